package cloud

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ballast-dev/ballast/redact"
)

// fixture reads one of the EventBridge events in testdata/interruptions, in the shapes
// of the AWS documentation.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "interruptions", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseInterruptionMessageKinds(t *testing.T) {
	for _, tc := range []struct {
		file string
		want InterruptionEvent
	}{{
		file: "spot-interruption.json",
		want: InterruptionEvent{
			ID: "12345678-1234-1234-1234-123456789012", Kind: SpotInterruption, InstanceIDs: []string{"i-1234567890abcdef0"},
			Time: time.Date(2026, 11, 3, 14, 5, 37, 0, time.UTC), Region: "eu-west-1", Account: "123456789012", Action: "terminate",
		},
	}, {
		file: "rebalance-recommendation.json",
		want: InterruptionEvent{
			ID: "2e8a4bd6-95f1-4c3b-b1a0-5c2f0e4d7a61", Kind: RebalanceRecommendation, InstanceIDs: []string{"i-0b22a22eec53b9321"},
			Time: time.Date(2026, 11, 3, 14, 2, 11, 0, time.UTC), Region: "eu-west-1", Account: "123456789012",
		},
	}, {
		file: "state-change.json",
		want: InterruptionEvent{
			ID: "7bf73129-1428-4cd3-a780-95db273d1602", Kind: StateChange, InstanceIDs: []string{"i-1234567890abcdef0"},
			Time: time.Date(2026, 11, 3, 14, 7, 40, 0, time.UTC), Region: "eu-west-1", Account: "123456789012", State: "shutting-down",
		},
	}, {
		file: "scheduled-change.json",
		want: InterruptionEvent{
			ID: "7fb65329-1628-4cf3-a740-95fd457a1402", Kind: ScheduledChange,
			InstanceIDs: []string{"i-0abcd1111abcd1111", "i-0abcd2222abcd2222"},
			Time:        time.Date(2026, 11, 3, 6, 27, 57, 0, time.UTC), Region: "eu-west-1", Account: "123456789012",
			Action: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
		},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseInterruptionMessage(fixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// event builds an EventBridge event of the given source and detail-type around detail.
func event(source, detailType, detail string) string {
	return fmt.Sprintf(`{"version":"0","id":"ev-1","detail-type":%q,"source":%q,"account":"123456789012",`+
		`"time":"2026-11-03T14:05:37Z","region":"eu-west-1","resources":[],"detail":%s}`, detailType, source, detail)
}

const spotWarning = "EC2 Spot Instance Interruption Warning"

func TestParseInterruptionMessageEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want func(InterruptionEvent) string
	}{{
		name: "leading whitespace and unknown fields",
		body: "\n  " + strings.Replace(event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop","new":{"x":[1]}}`),
			`"version"`, `"replay-name":"r","version"`, 1),
		want: func(ev InterruptionEvent) string {
			if ev.Kind != SpotInterruption || ev.Action != "stop" || !reflect.DeepEqual(ev.InstanceIDs, []string{"i-0a"}) {
				return fmt.Sprintf("%+v", ev)
			}
			return ""
		},
	}, {
		name: "time with an offset and fractions",
		body: strings.Replace(event("aws.ec2", "EC2 Instance Rebalance Recommendation", `{"instance-id":"i-0a"}`),
			"2026-11-03T14:05:37Z", "2026-11-03T15:05:37.25+01:00", 1),
		want: func(ev InterruptionEvent) string {
			if !ev.Time.Equal(time.Date(2026, 11, 3, 14, 5, 37, 250e6, time.UTC)) {
				return ev.Time.String()
			}
			return ""
		},
	}, {
		name: "scheduled change: the instances among other entities, once each",
		body: event("aws.health", "AWS Health Event", `{"service":"EC2","eventTypeCategory":"scheduledChange",`+
			`"eventTypeCode":"AWS_EC2_INSTANCE_STOP_SCHEDULED","affectedEntities":[{"entityValue":"h-0123"},`+
			`{"entityValue":"i-0b"},{"entityValue":"i-0a"},{"entityValue":"i-0b"}]}`),
		want: func(ev InterruptionEvent) string {
			if !reflect.DeepEqual(ev.InstanceIDs, []string{"i-0b", "i-0a"}) || ev.Action != "AWS_EC2_INSTANCE_STOP_SCHEDULED" {
				return fmt.Sprintf("%+v", ev)
			}
			return ""
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseInterruptionMessage([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.want(ev); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestParseInterruptionMessageRejects(t *testing.T) {
	const malformed, unknown = "malformed", "unknown"
	long := strings.Repeat("x", 70)
	for _, tc := range []struct {
		name string
		body string
		want string
		// kind is the kind a malformed message is reported as, when it got that far.
		kind InterruptionKind
		// says is in the error message.
		says string
	}{
		{name: "empty", body: "", want: malformed, says: "empty"},
		{name: "spaces", body: " \n\t", want: malformed, says: "empty"},
		{name: "garbage", body: "\x00\x01not json at all", want: malformed, says: "not a JSON object"},
		{name: "a JSON array", body: `[{"id":"x"}]`, want: malformed, says: "not a JSON object"},
		{name: "a JSON string", body: `"EC2 Spot Instance Interruption Warning"`, want: malformed, says: "not a JSON object"},
		{name: "truncated", body: event("aws.ec2", spotWarning, `{"instance-id":"i-0a"}`)[:60], want: malformed, says: "invalid JSON"},
		{name: "trailing garbage", body: event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop"}`) + "}", want: malformed, says: "invalid JSON"},
		{name: "JSON without detail", body: `{"version":"0","id":"a","source":"aws.ec2","detail-type":"` + spotWarning + `","time":"2026-11-03T14:05:37Z"}`,
			want: malformed, says: "no detail"},
		{name: "an SQS-shaped object", body: `{"Message":"hello","Type":"Notification"}`, want: malformed, says: "no version, id, source, detail-type, time, detail"},
		{name: "numeric version", body: strings.Replace(event("aws.ec2", spotWarning, `{}`), `"version":"0"`, `"version":0`, 1),
			want: malformed, says: "version is a JSON number, not a string"},
		{name: "detail is null", body: event("aws.ec2", spotWarning, `null`), want: malformed, kind: SpotInterruption, says: "detail is not a JSON object"},
		{name: "detail is a string", body: event("aws.ec2", spotWarning, `"i-0a"`), want: malformed, kind: SpotInterruption, says: "detail is not a JSON object"},
		{name: "missing instance-id", body: event("aws.ec2", spotWarning, `{"instance-action":"terminate"}`),
			want: malformed, kind: SpotInterruption, says: "no detail.instance-id"},
		{name: "instance-id a number", body: event("aws.ec2", "EC2 Instance Rebalance Recommendation", `{"instance-id":12}`),
			want: malformed, kind: RebalanceRecommendation, says: "instance-id is a JSON number"},
		{name: "instance-id not a token", body: event("aws.ec2", "EC2 Instance Rebalance Recommendation", `{"instance-id":"i-0a; rm -rf /"}`),
			want: malformed, kind: RebalanceRecommendation, says: "not an instance ID"},
		{name: "instance-id too long", body: event("aws.ec2", "EC2 Instance Rebalance Recommendation", `{"instance-id":"i-`+strings.Repeat("0", 260)+`"}`),
			want: malformed, kind: RebalanceRecommendation, says: "more than an instance ID has"},
		{name: "missing instance-action", body: event("aws.ec2", spotWarning, `{"instance-id":"i-0a"}`),
			want: malformed, kind: SpotInterruption, says: "no detail.instance-action"},
		{name: "missing state", body: event("aws.ec2", "EC2 Instance State-change Notification", `{"instance-id":"i-0a"}`),
			want: malformed, kind: StateChange, says: "no detail.state"},
		{name: "bad time", body: strings.Replace(event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop"}`),
			"2026-11-03T14:05:37Z", "yyyy-mm-ddThh:mm:ssZ", 1), want: malformed, kind: SpotInterruption, says: `time "yyyy-mm-ddThh:mm:ssZ" is not RFC 3339`},
		{name: "no time", body: strings.Replace(event("aws.ec2", spotWarning, `{}`), `"time":"2026-11-03T14:05:37Z",`, "", 1),
			want: malformed, says: "no time"},
		{name: "event ID too long", body: strings.Replace(event("aws.ec2", spotWarning, `{}`), `"id":"ev-1"`, `"id":"`+strings.Repeat("e", 200)+`"`, 1),
			want: malformed, kind: SpotInterruption, says: "more than an EventBridge event ID has"},
		{name: "scheduled change without entities", body: event("aws.health", "AWS Health Event", `{"service":"EC2","eventTypeCategory":"scheduledChange"}`),
			want: malformed, kind: ScheduledChange, says: "no detail.affectedEntities"},
		{name: "scheduled change with a bad instance", body: event("aws.health", "AWS Health Event",
			`{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"i-0a"},{"entityValue":"i-<b>"}]}`),
			want: malformed, kind: ScheduledChange, says: "affectedEntities[1].entityValue: not an instance ID"},

		{name: "another EventBridge event", body: string(fixture(t, "autoscaling-launch.json")), want: unknown,
			says: `source "aws.autoscaling", detail-type "EC2 Instance Launch Successful"`},
		{name: "an AWS Health issue", body: string(fixture(t, "health-issue.json")), want: unknown, says: `category "issue"`},
		{name: "an AWS Health event of another service", body: event("aws.health", "AWS Health Event",
			`{"service":"RDS","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"db-1"}]}`), want: unknown, says: `service "RDS"`},
		{name: "an EC2 scheduled change about a Dedicated Host", body: event("aws.health", "AWS Health Event",
			`{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"h-0123456789abcdef0"}]}`),
			want: unknown, says: "about no instance"},
		{name: "a future version", body: strings.Replace(event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop"}`),
			`"version":"0"`, `"version":"1"`, 1), want: unknown, says: `version "1"`},
		{name: "a long detail-type, cut", body: event("aws.ec2", long, `{}`), want: unknown, says: `"` + long[:61] + `…"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseInterruptionMessage([]byte(tc.body))
			if err == nil {
				t.Fatalf("no error, parsed %+v", ev)
			}
			if got := IsMalformedMessage(err); got != (tc.want == malformed) {
				t.Errorf("IsMalformedMessage = %v for %v", got, err)
			}
			if got := IsUnknownMessage(err); got != (tc.want == unknown) {
				t.Errorf("IsUnknownMessage = %v for %v", got, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			var m *MalformedMessageError
			if errors.As(err, &m) && m.Kind != tc.kind {
				t.Errorf("reported as a %q message, want %q", m.Kind, tc.kind)
			}
			if !reflect.DeepEqual(ev, InterruptionEvent{}) {
				t.Errorf("an event came with the error: %+v", ev)
			}
		})
	}
}

// TestParseInterruptionMessageQuotesLittle checks that errors quote at most a short,
// redacted excerpt of what a queue message said, whoever wrote it.
func TestParseInterruptionMessageQuotesLittle(t *testing.T) {
	const secret = "AKIAIOSFODNN7EXAMPLE"
	padding := strings.Repeat("lorem ipsum ", 2000)
	for name, body := range map[string]string{
		"malformed, a credential first": `{"password":"https://user:hunter2@example.com/` + secret + `" ` + padding,
		"malformed kind":                event("aws.ec2", spotWarning, `{"instance-action":"https://user:hunter2@example.com `+secret+` `+padding+`"}`),
		"unknown, credentials in its names": strings.Replace(event("aws.ec2/"+secret, "https://user:hunter2@example.com/x "+padding, `{}`),
			`"version":"0"`, `"version":"`+secret+`"`, 1),
		"bad time": strings.Replace(event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop"}`),
			"2026-11-03T14:05:37Z", secret+" https://user:hunter2@example.com "+padding, 1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseInterruptionMessage([]byte(body))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, leak := range []string{secret, "hunter2"} {
				if strings.Contains(msg, leak) {
					t.Errorf("the error repeats %q: %s", leak, msg)
				}
			}
			if len(msg) > 2*redact.MaxExcerpt+200 {
				t.Errorf("the error is %d bytes long: %.300s…", len(msg), msg)
			}
		})
	}
}

// checkParsed is what every answer of ParseInterruptionMessage must satisfy: an event
// a handler can use, or a typed error that says whether to ever retry.
func checkParsed(t *testing.T, body []byte, ev InterruptionEvent, err error) {
	t.Helper()
	if err != nil {
		if IsMalformedMessage(err) == IsUnknownMessage(err) {
			t.Fatalf("error neither (or both) malformed and unknown: %T %v", err, err)
		}
		if !utf8.ValidString(err.Error()) || len(err.Error()) > 2*redact.MaxExcerpt+300 {
			t.Fatalf("error message invalid or too long (%d bytes)", len(err.Error()))
		}
		if !reflect.DeepEqual(ev, InterruptionEvent{}) {
			t.Fatalf("an event came with the error: %+v", ev)
		}
		return
	}
	switch {
	case ev.ID == "" || len(ev.ID) > maxEventIDLength:
		t.Fatalf("event ID %q", ev.ID)
	case ev.Time.IsZero():
		t.Fatal("no time")
	case len(ev.InstanceIDs) == 0:
		t.Fatal("no instance")
	}
	found := false
	for _, k := range InterruptionKinds {
		found = found || k == ev.Kind
	}
	if !found {
		t.Fatalf("kind %q", ev.Kind)
	}
	seen := map[string]bool{}
	for _, id := range ev.InstanceIDs {
		if checkInstanceID(id) != nil || id == "" || seen[id] {
			t.Fatalf("instance IDs %q", ev.InstanceIDs)
		}
		seen[id] = true
	}
	for _, f := range []string{ev.Action, ev.State, ev.Region, ev.Account} {
		if len(f) > maxFieldExcerpt || !utf8.ValidString(f) {
			t.Fatalf("field %q unbounded", f)
		}
	}
}

// FuzzParseInterruptionMessage checks that no message makes the parser panic, and
// that every answer is a usable event or a typed error. Its seeds (the fixtures and a
// few broken messages) run with go test.
func FuzzParseInterruptionMessage(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "interruptions", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		f.Add(fixture(f, filepath.Base(file)))
	}
	for _, seed := range []string{
		"", "{}", "[]", "null", `{"detail":{}}`, "\xff\xfe{",
		event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop"}`),
		event("aws.ec2", spotWarning, `{"instance-id":["i-0a"],"instance-action":"stop"}`),
		event("aws.health", "AWS Health Event", `{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"i-\u00e9"}]}`),
		event("aws.health", "AWS Health Event", `{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":null}`),
		strings.Replace(event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop"}`), `"version":"0"`, `"version":null`, 1),
		strings.Replace(event("aws.ec2", spotWarning, `{"instance-id":"i-0a","instance-action":"stop"}`), `"id":"ev-1"`, `"id":"ev-1","id":""`, 1),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseInterruptionMessage(body)
		checkParsed(t, body, ev, err)
	})
}

// BenchmarkParseInterruptionMessage parses each of the four kinds in turn: an
// operation is one message.
func BenchmarkParseInterruptionMessage(b *testing.B) {
	var bodies [][]byte
	for _, f := range []string{"spot-interruption.json", "rebalance-recommendation.json", "state-change.json", "scheduled-change.json"} {
		bodies = append(bodies, fixture(b, f))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ParseInterruptionMessage(bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
