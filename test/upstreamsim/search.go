package upstreamsim

import (
	"strconv"
)

// The search routes hold Options.Documents synthetic documents and return
// the best ones first, so the guard's document caps and size limits can be
// checked against a known corpus.

type osHit struct {
	Index  string         `json:"_index"`
	ID     string         `json:"_id"`
	Score  float64        `json:"_score"`
	Source map[string]any `json:"_source"`
}

type osResponse struct {
	Took     int64 `json:"took"`
	TimedOut bool  `json:"timed_out"`
	Shards   struct {
		Total      int `json:"total"`
		Successful int `json:"successful"`
		Skipped    int `json:"skipped"`
		Failed     int `json:"failed"`
	} `json:"_shards"`
	Hits struct {
		Total struct {
			Value    int    `json:"value"`
			Relation string `json:"relation"`
		} `json:"total"`
		MaxScore *float64 `json:"max_score"`
		Hits     []osHit  `json:"hits"`
	} `json:"hits"`
}

type genericResult struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
	Text  string  `json:"text"`
}

// docScore ranks document i; scores fall with rank so the order is stable.
func docScore(i int) float64 { return 1 - float64(i)/1000 }

func docID(i int) string { return "doc-" + strconv.Itoa(i) }

func docText(i int) string {
	return "Synthetic passage " + strconv.Itoa(i) + " of the simulated corpus, standing in for retrieved context."
}

func (c *call) openSearch() {
	n := min(c.searchN, c.s.opts.Documents)
	var resp osResponse
	resp.Took = c.latencyMs()
	resp.Shards.Total, resp.Shards.Successful = 1, 1
	// total counts every matching document, as OpenSearch does, not only
	// the hits returned.
	resp.Hits.Total.Value = c.s.opts.Documents
	resp.Hits.Total.Relation = "eq"
	resp.Hits.Hits = make([]osHit, 0, n)
	for i := range n {
		resp.Hits.Hits = append(resp.Hits.Hits, osHit{
			Index:  c.route.name,
			ID:     docID(i),
			Score:  docScore(i),
			Source: map[string]any{"title": "Document " + strconv.Itoa(i), "text": docText(i)},
		})
	}
	if n > 0 {
		top := docScore(0)
		resp.Hits.MaxScore = &top
	}
	c.writeBody(resp)
}

func (c *call) genericSearch() {
	n := min(c.searchN, c.s.opts.Documents)
	results := make([]genericResult, 0, n)
	for i := range n {
		results = append(results, genericResult{ID: docID(i), Score: docScore(i), Text: docText(i)})
	}
	c.writeBody(map[string]any{"results": results})
}
