package argocd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// Health statuses a script may return: the ones Argo CD accepts. Argo CD shows any
// other value as Unknown with the message "Lua returned an invalid health status".
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
	Missing     = "Missing"
	Unknown     = "Unknown"
)

// Group is the API group of the kinds that have a health check.
const Group = "ballast.dev"

// Kinds are the kinds with a health check in config/argocd/health/ballast.dev.
var Kinds = []string{"ClusterPolicy", "PolicySource", "WorkloadDistributionRule"}

// Timeout is how long Argo CD lets a health check run.
const Timeout = time.Second

// HealthDir is where the scripts are, relative to the repository's root, in Argo CD's
// resource_customizations layout: <group>/<kind>/health.lua.
const HealthDir = "config/argocd/health"

// ScriptPath returns the file of the health check of group/kind.
func ScriptPath(group, kind string) string {
	return filepath.Join(RepoRoot(), HealthDir, group, kind, "health.lua")
}

// Script returns the health check of group/kind.
func Script(group, kind string) (string, error) {
	data, err := os.ReadFile(ScriptPath(group, kind))
	if err != nil {
		return "", fmt.Errorf("no health check for %s/%s: %w", group, kind, err)
	}
	return string(data), nil
}

// Health runs the health check of obj's group and kind and returns the status and
// message Argo CD would show. It fails when there is no check for the kind, the script
// fails or returns something Argo CD would not take as a health (Argo CD shows an
// error or Unknown then).
func Health(obj *unstructured.Unstructured) (status, message string, err error) {
	gvk := obj.GroupVersionKind()
	script, err := Script(gvk.Group, gvk.Kind)
	if err != nil {
		return "", "", err
	}
	status, message, err = Run(script, obj.Object)
	if err != nil {
		return "", "", fmt.Errorf("%s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return status, message, nil
}

// Run runs a health check script on obj, a decoded JSON object as in
// unstructured.Unstructured. Objects built in Go are passed through JSON first, so
// that the script sees what Argo CD would: integers as numbers, no Go-only types.
// Argo CD also opens os.time and os.date; Run does not, since a health check must not
// depend on the clock.
func Run(script string, obj map[string]any) (status, message string, err error) {
	obj, err = viaJSON(obj)
	if err != nil {
		return "", "", err
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", fmt.Errorf("failed to open the Lua library %q: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", fmt.Errorf("the health check failed: %w", err)
	}
	hs, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the health check returned %s, not a table", l.Get(-1).Type())
	}
	if status, err = field(hs, "status"); err != nil {
		return "", "", err
	}
	if message, err = field(hs, "message"); err != nil {
		return "", "", err
	}
	switch status {
	case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
		return status, message, nil
	}
	return "", "", fmt.Errorf("the health check returned status %q, which Argo CD shows as Unknown", status)
}

// field reads a string field of the returned table; Argo CD decodes the table into a
// struct of strings, so a field of another type fails there too.
func field(t *lua.LTable, name string) (string, error) {
	switch v := t.RawGetString(name).(type) {
	case *lua.LNilType:
		return "", nil
	case lua.LString:
		return string(v), nil
	default:
		return "", fmt.Errorf("the health check returned a %s %s, not a string", v.Type(), name)
	}
}

// viaJSON returns obj as Kubernetes decodes JSON into unstructured objects: integers
// as int64, other numbers as float64.
func viaJSON(obj map[string]any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the object: %w", err)
	}
	var out map[string]any
	if err := utiljson.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("failed to decode the object: %w", err)
	}
	return out, nil
}

// toLua converts a decoded JSON value into Lua as Argo CD does: objects become tables
// with string keys, arrays tables indexed from 1, numbers numbers, null nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetString(k, toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// RepoRoot returns the root of the Ballast repository: the directory two levels above
// this file's, or, when the source is elsewhere (-trimpath), the nearest directory
// above the working directory with config/argocd/health. It is not localcluster's, so
// that importing this package does not import a whole local cluster.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	if root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")); isRoot(root) {
		return root
	}
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for {
		if isRoot(dir) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}

func isRoot(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, HealthDir))
	return err == nil
}
