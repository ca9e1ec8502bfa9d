package localcluster

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// component is one process of the cluster, running in its own process group so that
// stopping it also stops the children it forks.
type component struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	err     error
}

func startComponent(dir, name, bin string, args, env []string) (*component, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath) //nolint:gosec // the test's own directory
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...) //nolint:gosec // binaries built by the harness
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = processGroup()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	c := &component{Name: name, LogPath: logPath, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the process has ended, and why.
func (c *component) exited() (bool, error) {
	select {
	case <-c.done:
		return true, c.err
	default:
		return false, nil
	}
}

// stop terminates the process group, politely first.
func (c *component) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	pgid := -c.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-c.done
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL) // children that outlived their parent
	_ = c.log.Close()
}

// RSS returns the resident memory of the process in bytes (0 when it has ended).
func (c *component) RSS() int64 {
	mem, err := ProcessMemory(c.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	return mem["VmRSS"]
}

// CPU returns the processor time (user and system) the process has used so far, its
// children's included once they have ended (0 when it has ended itself).
func (c *component) CPU() time.Duration {
	cpu, err := ProcessCPU(c.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	return cpu
}

// ProcessMemory returns the memory figures of /proc/PID/status (VmRSS, VmHWM, RssAnon,
// RssFile...) in bytes, by name.
func ProcessMemory(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]int64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, _ := strings.Cut(s.Text(), ":")
		kb, ok := strings.CutSuffix(strings.TrimSpace(value), " kB")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(kb, 10, 64); err == nil {
			out[name] = n * 1024
		}
	}
	return out, s.Err()
}

// ProcessCPU returns the processor time (user and system) process pid has used so
// far, its children's included once they have ended.
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's name, which is in parentheses and may hold spaces:
	// utime, stime, cutime and cstime are the 14th to 17th fields, in clock ticks.
	rest := string(data)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 15 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// tail returns the last n lines of the component's log.
func (c *component) tail(n int) string {
	data, err := os.ReadFile(c.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts asks the kernel for n distinct unused loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []io.Closer
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) } //nolint:gosec // harness files
