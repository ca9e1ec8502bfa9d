package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ballast-dev/ballast/redact"
)

// InterruptionQueue is the SQS queue EventBridge delivers EC2 interruption events to.
// It must be Ballast's own: the consumers of one queue take each other's messages, so
// sharing Karpenter's would hide events from both.
type InterruptionQueue interface {
	// Receive waits a while (SQS long polling) for messages and returns those that
	// arrived, none when the wait ends empty; a received message is hidden from other
	// receivers for the queue's visibility timeout, then delivered again unless deleted.
	Receive(ctx context.Context) ([]InterruptionMessage, error)
	// Delete removes a received message from the queue for good, by its receipt handle.
	Delete(ctx context.Context, msg InterruptionMessage) error
}

// InterruptionMessage is one message received from an InterruptionQueue.
type InterruptionMessage struct {
	// ID is the queue's message ID. A message delivered again keeps its ID; the same
	// event sent twice (EventBridge delivers at least once) gets two.
	ID string
	// ReceiptHandle is what Delete needs; each receive of a message gets a new one.
	ReceiptHandle string
	// Body is the message: an EventBridge event, as JSON.
	Body []byte
	// ReceiveCount is how many times the queue has delivered the message, this time
	// included (SQS's ApproximateReceiveCount; 0 when the queue did not say).
	ReceiveCount int
}

// InterruptionKind is what an interruption event announces. Its values are short and
// stable: they are metric label values.
type InterruptionKind string

const (
	// SpotInterruption is EC2's two-minute warning before it reclaims a Spot instance
	// (detail-type "EC2 Spot Instance Interruption Warning").
	SpotInterruption InterruptionKind = "SpotInterruption"
	// RebalanceRecommendation says a Spot instance is at elevated risk of interruption
	// (detail-type "EC2 Instance Rebalance Recommendation").
	RebalanceRecommendation InterruptionKind = "RebalanceRecommendation"
	// StateChange is an instance changing state, e.g. to shutting-down or terminated
	// (detail-type "EC2 Instance State-change Notification").
	StateChange InterruptionKind = "StateChange"
	// ScheduledChange is an AWS Health event of the EC2 service in the scheduledChange
	// category: a retirement or maintenance planned for the instances.
	ScheduledChange InterruptionKind = "ScheduledChange"
)

// InterruptionKinds lists every kind, in a fixed order (e.g. to initialise metrics).
var InterruptionKinds = []InterruptionKind{SpotInterruption, RebalanceRecommendation, StateChange, ScheduledChange}

// InterruptionEvent is one EventBridge event about EC2 instances being, or about to
// be, taken away.
type InterruptionEvent struct {
	// ID is the EventBridge event ID: the same event delivered twice has the same ID.
	ID string
	// Kind is what the event announces.
	Kind InterruptionKind
	// InstanceIDs are the EC2 instances concerned (one, except for scheduled changes),
	// distinct, in the event's order.
	InstanceIDs []string
	// Time is when the event happened.
	Time time.Time
	// Region and Account are where it happened.
	Region, Account string
	// Action is the instance-action of a Spot interruption warning (terminate, stop or
	// hibernate), or the event type code of a scheduled change (e.g.
	// AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED); empty for the other kinds.
	Action string
	// State is the new state of a state change (e.g. shutting-down, terminated);
	// empty for the other kinds.
	State string
}

// MalformedMessageError is a message that cannot be an event Ballast acts on: not
// JSON, not an EventBridge event, or an event of a known kind without what that kind
// always carries (instance IDs, a valid time). Retrying it never helps.
type MalformedMessageError struct {
	// Kind is the kind the message claims to be, when it got that far.
	Kind InterruptionKind
	// Reason says what is wrong.
	Reason string
	// Excerpt is the start of the message, redacted and bounded (redact.Excerpt).
	Excerpt string
}

// Error says what is wrong, with a short excerpt of the message.
func (e *MalformedMessageError) Error() string {
	kind := "interruption message"
	if e.Kind != "" {
		kind = string(e.Kind) + " message"
	}
	return fmt.Sprintf("malformed %s: %s: %q", kind, e.Reason, e.Excerpt)
}

// UnknownMessageError is a well-formed EventBridge event of a kind Ballast does not
// act on (another source or detail-type, an AWS Health event of another service or
// category, a future envelope version): a queue rule sends more than Ballast reads.
type UnknownMessageError struct {
	// Source, DetailType and Version are what the event says it is, redacted and
	// bounded.
	Source, DetailType, Version string
	// Reason says why it is not one of Ballast's kinds, when the source and
	// detail-type alone do not.
	Reason string
}

// Error names what the event is.
func (e *UnknownMessageError) Error() string {
	msg := fmt.Sprintf("unknown interruption message: source %q, detail-type %q, version %q", e.Source, e.DetailType, e.Version)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// IsMalformedMessage reports whether err is, or wraps, a MalformedMessageError.
func IsMalformedMessage(err error) bool {
	var e *MalformedMessageError
	return errors.As(err, &e)
}

// IsUnknownMessage reports whether err is, or wraps, an UnknownMessageError.
func IsUnknownMessage(err error) bool {
	var e *UnknownMessageError
	return errors.As(err, &e)
}

// maxFieldExcerpt bounds the envelope fields an UnknownMessageError repeats.
const maxFieldExcerpt = 64

// maxEventIDLength bounds an event ID; EventBridge's are UUIDs (36 characters).
const maxEventIDLength = 128

// maxInstanceIDLength bounds an instance ID: EC2's are 19 characters; a node name (what
// the last segment of other providers' IDs is, e.g. kwok's) is at most 253.
const maxInstanceIDLength = 253

// envelope is the part of an EventBridge event every kind shares.
type envelope struct {
	Version    *string         `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

// messageKey is the source and detail-type that name a kind.
type messageKey struct{ source, detailType string }

// kindParser reads the detail of one kind into the event, whose envelope fields are
// set; an error is what is missing or wrong (an UnknownMessageError when the event
// turns out not to be one Ballast acts on).
type kindParser struct {
	kind  InterruptionKind
	parse func(detail []byte, ev *InterruptionEvent) error
}

// parsers are the four kinds, by source and detail-type.
var parsers = map[messageKey]kindParser{
	{"aws.ec2", "EC2 Spot Instance Interruption Warning"}: {SpotInterruption, parseSpotInterruption},
	{"aws.ec2", "EC2 Instance Rebalance Recommendation"}:  {RebalanceRecommendation, parseRebalanceRecommendation},
	{"aws.ec2", "EC2 Instance State-change Notification"}: {StateChange, parseStateChange},
	{"aws.health", "AWS Health Event"}:                    {ScheduledChange, parseScheduledChange},
}

// ParseInterruptionMessage reads one queue message: an EventBridge event (version 0)
// of one of the four kinds. Any other event is an UnknownMessageError; anything that
// is not such an event, or lacks what its kind carries, a MalformedMessageError. Both
// quote at most a short redacted excerpt of body. Fields Ballast does not read are
// ignored, as EventBridge adds fields over time.
func ParseInterruptionMessage(body []byte) (InterruptionEvent, error) {
	malformed := func(kind InterruptionKind, format string, args ...any) error {
		return &MalformedMessageError{Kind: kind, Reason: fmt.Sprintf(format, args...), Excerpt: redact.Excerpt(string(body))}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return InterruptionEvent{}, malformed("", "empty")
	}
	if trimmed[0] != '{' {
		return InterruptionEvent{}, malformed("", "not a JSON object")
	}
	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return InterruptionEvent{}, malformed("", "not an EventBridge event: %s", jsonProblem(err))
	}
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"version", env.Version != nil}, {"id", env.ID != ""}, {"source", env.Source != ""},
		{"detail-type", env.DetailType != ""}, {"time", env.Time != ""}, {"detail", len(env.Detail) > 0},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return InterruptionEvent{}, malformed("", "not an EventBridge event: no %s", strings.Join(missing, ", "))
	}
	p, known := parsers[messageKey{env.Source, env.DetailType}]
	if !known || *env.Version != "0" {
		return InterruptionEvent{}, &UnknownMessageError{
			Source: field(env.Source), DetailType: field(env.DetailType), Version: field(*env.Version),
		}
	}
	kind := p.kind
	if len(env.ID) > maxEventIDLength {
		return InterruptionEvent{}, malformed(kind, "id of %d bytes, more than an EventBridge event ID has", len(env.ID))
	}
	at, err := time.Parse(time.RFC3339, env.Time)
	if err != nil {
		return InterruptionEvent{}, malformed(kind, "time %q is not RFC 3339", field(env.Time))
	}
	if env.Detail[0] != '{' {
		return InterruptionEvent{}, malformed(kind, "detail is not a JSON object")
	}
	ev := InterruptionEvent{ID: env.ID, Kind: kind, Time: at, Region: field(env.Region), Account: field(env.Account)}
	if err := p.parse(env.Detail, &ev); err != nil {
		if IsUnknownMessage(err) {
			return InterruptionEvent{}, err
		}
		return InterruptionEvent{}, malformed(kind, "%s", err.Error())
	}
	return ev, nil
}

// field returns what may be repeated of a field of the message (in an error, a log,
// an event's Action): redacted, on one line, at most maxFieldExcerpt bytes.
func field(s string) string {
	s = redact.Excerpt(s)
	if len(s) <= maxFieldExcerpt {
		return s
	}
	cut := maxFieldExcerpt - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// jsonProblem describes a JSON error without the text of the message.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ) && typ.Type != nil:
		if typ.Field != "" {
			return fmt.Sprintf("%s is a JSON %s, not a %s", typ.Field, typ.Value, jsonType(typ.Type.Kind().String()))
		}
		return fmt.Sprintf("a JSON %s where a %s belongs", typ.Value, jsonType(typ.Type.Kind().String()))
	}
	return "invalid JSON"
}

// jsonType names a Go kind the way JSON does.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "ptr":
		return "value"
	}
	return kind
}

// instanceDetail is the detail of the three EC2 kinds.
type instanceDetail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
	State          string `json:"state"`
}

func readInstanceDetail(detail []byte) (instanceDetail, error) {
	var d instanceDetail
	if err := json.Unmarshal(detail, &d); err != nil {
		return d, errors.New(jsonProblem(err))
	}
	if d.InstanceID == "" {
		return d, errors.New("no detail.instance-id")
	}
	if err := checkInstanceID(d.InstanceID); err != nil {
		return d, fmt.Errorf("detail.instance-id: %w", err)
	}
	return d, nil
}

// checkInstanceID accepts a plain token of a bounded length. Ballast finds an
// instance's node by its provider ID; it needs no more of EC2's ID format than that.
func checkInstanceID(id string) error {
	if len(id) > maxInstanceIDLength {
		return fmt.Errorf("%d characters, more than an instance ID has", len(id))
	}
	for _, r := range id {
		if !idChar(r) {
			return errors.New("not an instance ID")
		}
	}
	return nil
}

// idChar reports whether r may be part of an instance ID: a letter or digit of ASCII,
// '-', '_' or '.'.
func idChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return r == '-' || r == '_' || r == '.'
}

func parseSpotInterruption(detail []byte, ev *InterruptionEvent) error {
	d, err := readInstanceDetail(detail)
	if err != nil {
		return err
	}
	if d.InstanceAction == "" {
		return errors.New("no detail.instance-action")
	}
	ev.InstanceIDs, ev.Action = []string{d.InstanceID}, field(d.InstanceAction)
	return nil
}

func parseRebalanceRecommendation(detail []byte, ev *InterruptionEvent) error {
	d, err := readInstanceDetail(detail)
	if err != nil {
		return err
	}
	ev.InstanceIDs = []string{d.InstanceID}
	return nil
}

func parseStateChange(detail []byte, ev *InterruptionEvent) error {
	d, err := readInstanceDetail(detail)
	if err != nil {
		return err
	}
	if d.State == "" {
		return errors.New("no detail.state")
	}
	ev.InstanceIDs, ev.State = []string{d.InstanceID}, field(d.State)
	return nil
}

// healthDetail is the part of an AWS Health event's detail Ballast reads.
type healthDetail struct {
	Service           string `json:"service"`
	EventTypeCategory string `json:"eventTypeCategory"`
	EventTypeCode     string `json:"eventTypeCode"`
	AffectedEntities  []struct {
		EntityValue string `json:"entityValue"`
	} `json:"affectedEntities"`
}

// parseScheduledChange reads an AWS Health event. Only EC2's scheduled changes are
// one of Ballast's kinds; other Health events are unknown messages. Of the affected
// entities (instances, but also e.g. Dedicated Hosts), the instances are kept; an
// event about none is an unknown message too.
func parseScheduledChange(detail []byte, ev *InterruptionEvent) error {
	var d healthDetail
	if err := json.Unmarshal(detail, &d); err != nil {
		return errors.New(jsonProblem(err))
	}
	if d.Service != "EC2" || d.EventTypeCategory != "scheduledChange" {
		return &UnknownMessageError{
			Source: "aws.health", DetailType: "AWS Health Event", Version: "0",
			Reason: fmt.Sprintf("service %q, category %q", field(d.Service), field(d.EventTypeCategory)),
		}
	}
	if len(d.AffectedEntities) == 0 {
		return errors.New("no detail.affectedEntities")
	}
	for i, e := range d.AffectedEntities {
		if !strings.HasPrefix(e.EntityValue, "i-") {
			continue
		}
		if err := checkInstanceID(e.EntityValue); err != nil {
			return fmt.Errorf("detail.affectedEntities[%d].entityValue: %w", i, err)
		}
		if !slices.Contains(ev.InstanceIDs, e.EntityValue) {
			ev.InstanceIDs = append(ev.InstanceIDs, e.EntityValue)
		}
	}
	if len(ev.InstanceIDs) == 0 {
		return &UnknownMessageError{
			Source: "aws.health", DetailType: "AWS Health Event", Version: "0",
			Reason: "an EC2 scheduled change about no instance",
		}
	}
	ev.Action = field(d.EventTypeCode)
	return nil
}
