package main

import (
	"log/slog"
	"net/http"
	"time"
)

// Listener limits, set deliberately rather than left to net/http's defaults (documented in
// docs/guard.md, "Protocols and limits").
const (
	// maxHeaderBytes bounds request headers on both protocols (HTTP/2 announces it as
	// SETTINGS_MAX_HEADER_LIST_SIZE). SDK requests carry a few KiB at most, signed AWS requests
	// included; 1 MiB (the default) only helps an abusive client.
	maxHeaderBytes = 64 << 10
	// appStreams is how many requests one HTTP/2 connection may have in flight. Node's HTTP/2
	// clients put all of a process's calls to one origin on one connection, so a busy app needs
	// far more than the default 100 before its calls queue inside its own SDK.
	appStreams = 1000
	// adminStreams: a scrape or a probe at a time is all the admin listener serves.
	adminStreams = 100
)

// newServer returns an http.Server that speaks HTTP/1.1 and HTTP/2 without TLS (h2c with prior
// knowledge, which is what Node's AWS SDK and gRPC-style clients send to an http:// URL) on the
// same port. An HTTP/1.1 request asking to upgrade to h2c is answered over HTTP/1.1, as RFC 9110
// allows; RFC 9113 deprecated that upgrade and clients that send it (curl --http2) fall back.
// There is no WriteTimeout: streams last as long as the config's request timeout allows.
func newServer(handler http.Handler, log *slog.Logger, streams int) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: streams},
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
