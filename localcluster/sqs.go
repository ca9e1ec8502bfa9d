package localcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// FauxqsVersion is the version of the npm package fauxqs that StartSQS runs: the
// newest that runs on Node 20. fauxqs/package-lock.json pins its dependencies.
const FauxqsVersion = "1.9.2"

// SQSRegion is the region of the queues StartSQS serves.
const SQSRegion = "eu-west-1"

// Example credentials (AWS's documentation examples); fauxqs checks no signature.
const (
	sqsKeyID  = "AKIAIOSFODNN7EXAMPLE"
	sqsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// sqsStartTimeout bounds how long fauxqs may take to answer its health check.
const sqsStartTimeout = time.Minute

// fauxqsFiles are the npm project StartSQS installs: fauxqs and its dependencies,
// each at the version and integrity its lock file names.
//
//go:embed fauxqs/package.json fauxqs/package-lock.json
var fauxqsFiles embed.FS

// SQS is a running fauxqs, an SQS stand-in that speaks the JSON protocol aws-sdk-go-v2
// uses (queues, send, long-polling receive with visibility timeouts and receive
// counts, delete), on 127.0.0.1. Nothing that emulates SQS is written in Go and can be
// had here; fauxqs is a Node.js program from npm.
type SQS struct {
	// Endpoint is the SQS endpoint, http://127.0.0.1:PORT.
	Endpoint string
	// Dir holds fauxqs's log.
	Dir string

	proc   *component
	client *sqs.Client
}

// StartSQS installs fauxqs when it is not in the cache yet (npm ci into
// ${BALLAST_CACHE_DIR:-~/.cache/ballast}/fauxqs-VERSION, under a lock that parallel
// test packages share; it needs node 20 or later and npm on the PATH, and the npm
// registry), starts it on a free 127.0.0.1 port in its own process group with its log
// in dir, and waits until it answers. Stop stops it.
func StartSQS(ctx context.Context, dir string) (*SQS, error) {
	node, err := nodeBinary(ctx)
	if err != nil {
		return nil, err
	}
	home, err := installFauxqs(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cli := filepath.Join(home, "node_modules", "fauxqs", "dist", "cli.js")
	// Another process may take the free port before fauxqs binds it: try again then.
	var lastErr error
	for range 3 {
		s, err := startFauxqs(ctx, dir, node, cli)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

// errPortTaken is a fauxqs that exited because its port was in use.
var errPortTaken = errors.New("the port was taken")

func startFauxqs(ctx context.Context, dir, node, cli string) (*SQS, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, fmt.Errorf("failed to find a free port for fauxqs: %w", err)
	}
	// fauxqs reads its port from FAUXQS_PORT (its README); it listens on every
	// interface, and is only ever spoken to on 127.0.0.1.
	proc, err := startComponent(dir, "fauxqs", node, []string{cli}, []string{
		"FAUXQS_PORT=" + strconv.Itoa(ports[0]), "FAUXQS_HOST=127.0.0.1", "FAUXQS_DEFAULT_REGION=" + SQSRegion,
		"FAUXQS_LOGGER=true", "NODE_ENV=production",
	})
	if err != nil {
		return nil, err
	}
	s := &SQS{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), Dir: dir, proc: proc}
	if err := s.waitHealthy(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	s.client = sqs.NewFromConfig(s.Config())
	return s, nil
}

// waitHealthy polls fauxqs's health check (GET /health) until it answers 200.
func (s *SQS) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, sqsStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/health", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if done, err := s.proc.exited(); done {
			log := s.proc.tail(20)
			if strings.Contains(log, "EADDRINUSE") {
				return fmt.Errorf("fauxqs on %s: %w", s.Endpoint, errPortTaken)
			}
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("fauxqs exited before it answered: %w\n%s", err, log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fauxqs did not answer on %s within %s: %w\n%s", s.Endpoint, sqsStartTimeout, ctx.Err(), s.proc.tail(20))
		case <-tick.C:
		}
	}
}

// Stop ends fauxqs's process group; its queues are gone with it.
func (s *SQS) Stop() {
	if s != nil && s.proc != nil {
		s.proc.stop()
	}
}

// Log returns the end of fauxqs's log (one JSON line per request).
func (s *SQS) Log() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.tail(40)
}

// Config is an SDK configuration for the stand-in: its endpoint, SQSRegion and
// example credentials.
func (s *SQS) Config() awssdk.Config {
	return awssdk.Config{
		Region:       SQSRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(sqsKeyID, sqsSecret, ""),
		BaseEndpoint: awssdk.String(s.Endpoint),
	}
}

// Env is the environment that points an AWS SDK client (the controller's) at the
// stand-in: the SQS endpoint, SQSRegion and example credentials.
func (s *SQS) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_SQS=" + s.Endpoint, "AWS_REGION=" + SQSRegion,
		"AWS_ACCESS_KEY_ID=" + sqsKeyID, "AWS_SECRET_ACCESS_KEY=" + sqsSecret, "AWS_EC2_METADATA_DISABLED=true",
	}
}

// CreateQueue creates a standard queue whose received messages stay hidden for
// visibilityTimeout (whole seconds, 0 to 12 hours), and returns its URL.
func (s *SQS) CreateQueue(ctx context.Context, name string, visibilityTimeout time.Duration) (string, error) {
	out, err := s.client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: awssdk.String(name),
		Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(visibilityTimeout / time.Second)),
		},
	})
	if err != nil {
		return "", fmt.Errorf("failed to create queue %s: %w", name, err)
	}
	return awssdk.ToString(out.QueueUrl), nil
}

// Send sends body to the queue at url and returns the message ID.
func (s *SQS) Send(ctx context.Context, url string, body []byte) (string, error) {
	out, err := s.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: awssdk.String(url), MessageBody: awssdk.String(string(body))})
	if err != nil {
		return "", fmt.Errorf("failed to send to %s: %w", url, err)
	}
	return awssdk.ToString(out.MessageId), nil
}

// Count returns how many messages the queue at url holds: visible ones, and those
// received and hidden until their visibility timeout ends.
func (s *SQS) Count(ctx context.Context, url string) (visible, hidden int, err error) {
	out, err := s.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: awssdk.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("failed to count the messages of %s: %w", url, err)
	}
	visible, err = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		return 0, 0, fmt.Errorf("failed to count the messages of %s: %w", url, err)
	}
	hidden, err = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	if err != nil {
		return 0, 0, fmt.Errorf("failed to count the messages of %s: %w", url, err)
	}
	return visible, hidden, nil
}

// nodeBinary finds node on the PATH and checks it is version 20 or later, as fauxqs
// FauxqsVersion needs.
func nodeBinary(ctx context.Context) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("the SQS stand-in (fauxqs) needs Node.js 20 or later and npm on the PATH: %w", err)
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output() //nolint:gosec // node from the PATH
	if err != nil {
		return "", fmt.Errorf("failed to run %s --version: %w", node, err)
	}
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 20 {
		return "", fmt.Errorf("the SQS stand-in (fauxqs %s) needs Node.js 20 or later; %s is %s", FauxqsVersion, node, version)
	}
	return node, nil
}

// cacheDir is where built and installed tools are kept, as the hack/ scripts keep
// them: BALLAST_CACHE_DIR, else $XDG_CACHE_HOME/ballast, else ~/.cache/ballast.
func cacheDir() (string, error) {
	if d := os.Getenv("BALLAST_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "ballast"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set BALLAST_CACHE_DIR): %w", err)
	}
	return filepath.Join(home, ".cache", "ballast"), nil
}

// fauxqsMarker is the file in an installation that names the lock file it was
// installed from (its SHA-256), written last: an installation without it, or from
// another lock file, is installed again.
const fauxqsMarker = ".ballast-installed"

// installFauxqs returns the directory fauxqs is installed in, installing it first
// when it is missing or was installed from another lock file. Test packages run in
// parallel and may all ask at once: the cache's fauxqs.lock (flock, as the hack/
// scripts do) lets one install while the others wait.
func installFauxqs(ctx context.Context) (string, error) {
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil { //nolint:gosec // a cache shared like the hack/ scripts'
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(cache, "fauxqs.lock"), os.O_CREATE|os.O_RDWR, 0o644) //nolint:gosec // the cache's lock
	if err != nil {
		return "", err
	}
	defer func() { _ = lock.Close() }() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("failed to lock %s: %w", lock.Name(), err)
	}

	pkg, err := fauxqsFiles.ReadFile("fauxqs/package.json")
	if err != nil {
		return "", err
	}
	pkgLock, err := fauxqsFiles.ReadFile("fauxqs/package-lock.json")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pkgLock)
	want := hex.EncodeToString(sum[:])
	dir := filepath.Join(cache, "fauxqs-"+FauxqsVersion)
	if got, err := os.ReadFile(filepath.Join(dir, fauxqsMarker)); err == nil && strings.TrimSpace(string(got)) == want { //nolint:gosec // the cache
		return dir, nil
	}

	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("the SQS stand-in (fauxqs) needs npm on the PATH to install it: %w", err)
	}
	tmp, err := os.MkdirTemp(cache, "fauxqs-install-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	for name, data := range map[string][]byte{"package.json": pkg, "package-lock.json": pkgLock} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil { //nolint:gosec // an npm project
			return "", err
		}
	}
	// npm ci installs exactly what the lock file names, checking each package's
	// integrity; no package of it has an install script, and none may run.
	cmd := exec.CommandContext(ctx, npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error") //nolint:gosec // npm from the PATH
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("failed to install fauxqs %s with npm ci: %w\n%s", FauxqsVersion, err, out.String())
	}
	if err := os.WriteFile(filepath.Join(tmp, fauxqsMarker), []byte(want+"\n"), 0o644); err != nil { //nolint:gosec // the cache
		return "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}
