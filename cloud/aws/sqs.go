package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ballast-dev/ballast/cloud"
	"github.com/ballast-dev/ballast/redact"
)

// Long polling: each receive waits up to 20 seconds (SQS's most) for up to 10
// messages (its most), so an idle queue costs three requests a minute and a message
// is read as soon as it arrives.
const (
	receiveWaitSeconds = 20
	receiveMaxMessages = 10
)

// queueName is what SQS accepts as a queue name: up to 80 letters, digits, hyphens and
// underscores, with .fifo at the end of a FIFO queue's.
var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,75}(\.fifo|[A-Za-z0-9_-]{0,5})$`)

// SQSAPI is the part of the SQS API the interruption queue calls.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// InterruptionQueue implements cloud.InterruptionQueue with an SQS queue (IAM actions
// sqs:ReceiveMessage, sqs:DeleteMessage and, when the queue is given by name,
// sqs:GetQueueUrl; kms:Decrypt too for a queue encrypted with a customer managed key).
type InterruptionQueue struct {
	api SQSAPI
	// name is the queue's name, when it was given by name.
	name string

	mu  sync.Mutex
	url string
}

var _ cloud.InterruptionQueue = (*InterruptionQueue)(nil)

// NewInterruptionQueue builds the queue from an SDK configuration (its region,
// retryer, endpoint and credentials) and the queue's URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) or name. A name is looked up in the
// configuration's region and account with GetQueueUrl on first use.
func NewInterruptionQueue(cfg awssdk.Config, queue string) (*InterruptionQueue, error) {
	c := sqs.NewFromConfig(cfg)
	return NewInterruptionQueueFromClient(sqsMethods{
		receive: c.ReceiveMessage, delete: c.DeleteMessage, getURL: c.GetQueueUrl,
	}, queue)
}

// NewInterruptionQueueFromClient builds the queue on an SQS client, from the queue's
// URL or name.
func NewInterruptionQueueFromClient(api SQSAPI, queue string) (*InterruptionQueue, error) {
	switch {
	case strings.HasPrefix(queue, "https://") || strings.HasPrefix(queue, "http://"):
		return &InterruptionQueue{api: api, url: queue}, nil
	case queueName.MatchString(queue):
		return &InterruptionQueue{api: api, name: queue}, nil
	case queue == "":
		return nil, errors.New("no interruption queue: give its URL or name")
	}
	return nil, fmt.Errorf("the interruption queue %q is neither a URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) "+
		"nor a queue name (up to 80 letters, digits, hyphens and underscores)", redact.Excerpt(queue))
}

// Receive implements cloud.InterruptionQueue: one ReceiveMessage long poll of up to
// 20 seconds for up to 10 messages, with their ApproximateReceiveCount. The queue's
// visibility timeout applies.
func (q *InterruptionQueue) Receive(ctx context.Context) ([]cloud.InterruptionMessage, error) {
	url, err := q.queueURL(ctx)
	if err != nil {
		return nil, err
	}
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    awssdk.String(url),
		MaxNumberOfMessages:         receiveMaxMessages,
		WaitTimeSeconds:             receiveWaitSeconds,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, classifyAction("sqs:ReceiveMessage", "receive interruption messages from "+q.describe(), err)
	}
	msgs := make([]cloud.InterruptionMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		count, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs = append(msgs, cloud.InterruptionMessage{
			ID:            awssdk.ToString(m.MessageId),
			ReceiptHandle: awssdk.ToString(m.ReceiptHandle),
			Body:          []byte(awssdk.ToString(m.Body)),
			ReceiveCount:  count,
		})
	}
	return msgs, nil
}

// Delete implements cloud.InterruptionQueue with DeleteMessage.
func (q *InterruptionQueue) Delete(ctx context.Context, msg cloud.InterruptionMessage) error {
	url, err := q.queueURL(ctx)
	if err != nil {
		return err
	}
	_, err = q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: awssdk.String(url), ReceiptHandle: awssdk.String(msg.ReceiptHandle)})
	if err != nil {
		return classifyAction("sqs:DeleteMessage", fmt.Sprintf("delete interruption message %s from %s", redact.Excerpt(msg.ID), q.describe()), err)
	}
	return nil
}

// queueURL returns the queue's URL, looking a name up once it is first needed; a
// failed lookup is tried again next time.
func (q *InterruptionQueue) queueURL(ctx context.Context) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.url != "" {
		return q.url, nil
	}
	out, err := q.api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: awssdk.String(q.name)})
	if err != nil {
		return "", classifyAction("sqs:GetQueueUrl", "find the interruption queue "+q.name, err)
	}
	if awssdk.ToString(out.QueueUrl) == "" {
		return "", fmt.Errorf("failed to find the interruption queue %s: GetQueueUrl returned no URL", q.name)
	}
	q.url = awssdk.ToString(out.QueueUrl)
	return q.url, nil
}

// describe names the queue in errors: its name, or its URL (redacted: it holds no
// credential unless someone put one there).
func (q *InterruptionQueue) describe() string {
	if q.name != "" {
		return q.name
	}
	return redact.String(q.url)
}

// sqsMethods is SQSAPI as method values of an SQS client, which keeps the client out
// of interface values (see ec2.go).
type sqsMethods struct {
	receive func(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	delete  func(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	getURL  func(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// ReceiveMessage implements SQSAPI.
func (m sqsMethods) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return m.receive(ctx, in, opts...)
}

// DeleteMessage implements SQSAPI.
func (m sqsMethods) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	return m.delete(ctx, in, opts...)
}

// GetQueueUrl implements SQSAPI.
func (m sqsMethods) GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	return m.getURL(ctx, in, opts...)
}
