package status

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// Recorder records events whose notes pass through Message (at most MaxEventMessage
// bytes, redacted): the API refuses a longer note, and the event would be lost.
type Recorder struct {
	events.EventRecorder
}

// Events wraps r; nil stays nil, for controllers that record no events.
func Events(r events.EventRecorder) events.EventRecorder {
	if r == nil {
		return nil
	}
	if _, ok := r.(Recorder); ok {
		return r
	}
	return Recorder{r}
}

// Eventf implements events.EventRecorder.
func (r Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	msg := note
	if len(args) > 0 {
		msg = fmt.Sprintf(note, args...)
	}
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", Message(msg, MaxEventMessage))
}
