package controllers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/render"
)

// observeAdmission writes status.admission and the AdmissionStoreAvailable condition: what the
// guards enforce at the request, how many guards share the quota, and, with a shared store, the
// learned limit and the last minute's spend as the store holds them. It returns the condition to
// set, or nil when the quota has no store to report on.
func (r *TokenQuotaReconciler) observeAdmission(ctx context.Context, q *breakwaterv1alpha1.TokenQuota, now time.Time, tokensPerMinute int64) *metav1.Condition {
	enforcement := render.QuotaEnforcement(q, r.admission != nil)
	guards, err := r.countGuards(ctx, q)
	if err != nil {
		log.FromContext(ctx).Error(err, "Counting the guards a TokenQuota covers")
		if q.Status.Admission != nil {
			guards = q.Status.Admission.Guards
		}
	}
	prev := q.Status.Admission
	st := &breakwaterv1alpha1.QuotaAdmissionStatus{Enforcement: enforcement, Guards: guards}
	q.Status.Admission = st
	if enforcement != breakwaterv1alpha1.EnforcementShared {
		apimeta.RemoveStatusCondition(&q.Status.Conditions, breakwaterv1alpha1.ConditionAdmissionStoreAvailable)
		return nil
	}
	cond := &metav1.Condition{Type: breakwaterv1alpha1.ConditionAdmissionStoreAvailable}
	standing, err := r.readStanding(ctx, q)
	if err != nil {
		cond.Status, cond.Reason = metav1.ConditionFalse, breakwaterv1alpha1.ReasonStoreUnavailable
		cond.Message = fmt.Sprintf("The admission store did not answer (%v): each guard enforces its share, 1/%d of the limits", err, max(guards, 1))
		if prev != nil {
			// Keep what was last learned: the guards hold it too.
			st.LearnedPercent, st.LearnedTokensPerMinute, st.LearnedRequestsPerMinute = prev.LearnedPercent, prev.LearnedTokensPerMinute, prev.LearnedRequestsPerMinute
			st.WindowTokens, st.WindowRequests, st.UpdatedAt = prev.WindowTokens, prev.WindowRequests, prev.UpdatedAt
		}
		return cond
	}
	rpm := q.Spec.Limits.RequestsPerMinute
	var tpm *int64
	if tokensPerMinute > 0 {
		tpm = &tokensPerMinute
	}
	percent := float64(standing.Share) * 100 / admission.FullShare
	st.LearnedPercent = strconv.FormatFloat(percent, 'f', 1, 64)
	if tpm != nil {
		st.LearnedTokensPerMinute = ptr.To(*tpm * standing.Share / admission.FullShare)
	}
	if rpm != nil {
		st.LearnedRequestsPerMinute = ptr.To(*rpm * standing.Share / admission.FullShare)
	}
	st.WindowTokens, st.WindowRequests = ptr.To(standing.Tokens), ptr.To(standing.Requests)
	st.UpdatedAt = &metav1.Time{Time: now}
	cond.Status, cond.Reason = metav1.ConditionTrue, breakwaterv1alpha1.ReasonStoreAnswering
	cond.Message = fmt.Sprintf("%d guards share the quota's budget in the admission store; the last minute holds %d tokens and %d requests",
		guards, standing.Tokens, standing.Requests)
	r.announceLearned(q, prev, percent, st)
	return cond
}

// learnedLimit is limit with the tokens-per-minute one the control loop decides on
// (policy.DecisionTokensPerMinute): the learned one with shared admission below the configured.
func learnedLimit(q *breakwaterv1alpha1.TokenQuota, limit resolvedLimit) resolvedLimit {
	if a := q.Status.Admission; a != nil && a.Enforcement == breakwaterv1alpha1.EnforcementShared && a.LearnedTokensPerMinute != nil {
		limit.tokensPerMinute = policy.DecisionTokensPerMinute(limit.tokensPerMinute, *a.LearnedTokensPerMinute)
	}
	return limit
}

// readStanding asks the store for the quota's learned share and window.
func (r *TokenQuotaReconciler) readStanding(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) (admission.Standing, error) {
	store, err := r.admission.reader(ctx, r.Client)
	if err != nil {
		return admission.Standing{}, err
	}
	return store.Inspect(ctx, admission.Quota{Key: q.Namespace + "/" + q.Name, Namespace: q.Namespace})
}

// announceLearned records an Event when the learned limit moved by a step or more.
// The reference is the value last announced (a slow climb of 1.5 points per evaluation still
// makes an Event every 10 points); after a manager restart, the status's value.
func (r *TokenQuotaReconciler) announceLearned(q *breakwaterv1alpha1.TokenQuota, prev *breakwaterv1alpha1.QuotaAdmissionStatus, percent float64, st *breakwaterv1alpha1.QuotaAdmissionStatus) {
	before := 100.0
	if v, ok := r.learnedAnnounced.Load(client.ObjectKeyFromObject(q)); ok {
		before = v.(float64)
	} else if prev != nil && prev.LearnedPercent != "" {
		if v, err := strconv.ParseFloat(prev.LearnedPercent, 64); err == nil {
			before = v
		}
		r.learnedAnnounced.Store(client.ObjectKeyFromObject(q), before)
	}
	limits := ""
	if st.LearnedTokensPerMinute != nil {
		limits = fmt.Sprintf(" (%d tokens/min)", *st.LearnedTokensPerMinute)
	}
	switch policy.LearnedLimitChange(before, percent) {
	case -1:
		r.status.recorder.Eventf(q, nil, corev1.EventTypeWarning, breakwaterv1alpha1.ReasonLearnedLimitLowered, "LearnLimit",
			"The provider throttled requests this quota admitted: the guards now admit up to %s%% of the configured limits%s, from %.1f%%",
			st.LearnedPercent, limits, before)
	case 1:
		r.status.recorder.Eventf(q, nil, corev1.EventTypeNormal, breakwaterv1alpha1.ReasonLearnedLimitRaised, "LearnLimit",
			"The learned limit climbed back to %s%% of the configured limits%s, from %.1f%%", st.LearnedPercent, limits, before)
	default:
		return
	}
	r.learnedAnnounced.Store(client.ObjectKeyFromObject(q), percent)
}

// countGuards adds up the injected pods of every GenAIWorkload calling one of the quota's
// endpoints: each runs one guard.
func (r *TokenQuotaReconciler) countGuards(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) (int32, error) {
	seen := map[string]bool{}
	var n int32
	for _, ep := range refNames(q.Spec.Endpoints) {
		var list breakwaterv1alpha1.GenAIWorkloadList
		if err := r.List(ctx, &list, client.InNamespace(q.Namespace), client.MatchingFields{indexWorkloadEndpoints: ep}); err != nil {
			return 0, fmt.Errorf("listing the GenAIWorkloads of ModelEndpoint %s/%s: %w", q.Namespace, ep, err)
		}
		for _, w := range list.Items {
			if !seen[w.Name] {
				seen[w.Name] = true
				n += w.Status.InjectedPods
			}
		}
	}
	return n, nil
}
