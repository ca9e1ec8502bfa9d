package cost

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// A YAML snapshot is read line by line. A full YAML parser would build every node of
// a 100 MB List before anything is kept, so instead the block structure (indentation,
// "key:" lines, "- " entries) is followed only far enough to drop the subtrees the
// estimate never reads — a pod's status, probes, env and volumes, a node's images and
// conditions — and each item of a List is handed to the YAML parser on its own, once
// it ends. The filter only ever drops whole values under plain keys it recognises;
// anything it is unsure of (quoted or complex keys, merge keys, flow collections,
// scalars spanning lines) is kept as written; an object with lines where its
// structure allows none, or with line breaks other than "\n" and "\r\n", and an
// object whose filtered text does not parse, are parsed as written
// (decodeYAMLObject). So a snapshot reads as the YAML parser reads it, or, for YAML
// only a lenient parser takes (a List with two items keys), fails with an error;
// FuzzReadSnapshotYAML holds the filter to that.

// shape says which keys of a mapping (or of each mapping in a sequence) to keep; a
// nil *shape keeps the whole value.
type shape struct {
	keys map[string]*shape
	// prefix, when set, keeps every key that starts with it (and drops other plain
	// keys) instead of keys.
	prefix string
}

var (
	ownerShape    = &shape{keys: map[string]*shape{"kind": nil, "name": nil, "controller": nil}}
	metadataShape = &shape{keys: map[string]*shape{
		"name": nil, "namespace": nil, "labels": nil, "ownerReferences": ownerShape,
		"annotations": {prefix: "ballast.dev/"},
	}}
	// nodeMetadataShape is for a Node, when its kind comes before its metadata (as
	// kubectl prints it): of its many labels only those FromCluster reads.
	nodeMetadataShape = &shape{keys: map[string]*shape{
		"name": nil,
		"labels": {keys: map[string]*shape{
			instanceTypeLabel: nil, betaInstanceTypeLabel: nil, karpenterCapacity: nil, eksCapacity: nil,
			v1alpha1.CapacityLabel: nil, zoneLabel: nil, regionLabel: nil,
		}},
	}}
	containerShape = &shape{keys: map[string]*shape{"resources": nil, "restartPolicy": nil}}
	specShape      = &shape{keys: map[string]*shape{
		"nodeName": nil, "replicas": nil, "overhead": nil,
		"containers": containerShape, "initContainers": containerShape,
	}}
	objectShape = &shape{keys: map[string]*shape{
		"apiVersion": nil, "kind": nil, "metadata": metadataShape, "spec": specShape,
		"status": {keys: map[string]*shape{"phase": nil, "allocatable": {keys: map[string]*shape{"cpu": nil, "memory": nil, GPUResource: nil}}}},
	}}
)

func init() {
	specShape.keys["template"] = &shape{keys: map[string]*shape{"spec": specShape}}
	objectShape.keys["items"] = objectShape
}

// keeps returns whether to keep key, and the shape of its value.
func (s *shape) keeps(key []byte) (bool, *shape) {
	if s.prefix != "" {
		return bytes.HasPrefix(key, []byte(s.prefix)), nil
	}
	if child, ok := s.keys[string(key)]; ok {
		return true, child
	}
	// The JSON decoder matches field names whatever their case: so does the filter.
	for k, child := range s.keys {
		if len(k) == len(key) && bytes.EqualFold(key, []byte(k)) {
			return true, child
		}
	}
	return false, nil
}

// yamlLines reads a YAML stream one line at a time.
type yamlLines struct {
	r *bufio.Reader
	// line is the current line with its line break, valid until next; eof is set
	// when there is none.
	line  []byte
	spill []byte
	eof   bool
	err   error
	// indent is the number of spaces the line starts with; content is the rest,
	// without the line break; blank is set for an empty or comment-only line.
	indent  int
	content []byte
	blank   bool
	// raw, when set, receives every line consumed, but not the current one when
	// rawDone is set (it was written already).
	raw     *bytes.Buffer
	rawDone bool
	// number is the line's number, for errors.
	number int
	// anomaly, when set, is set to true on a line the YAML parser would break in
	// two (see oddBreak).
	anomaly *bool
}

// oddBreak reports whether a line holds a line break other than its "\n" or "\r\n":
// a lone "\r", or NEL, LS or PS, which YAML 1.1 parsers take as line breaks too.
func oddBreak(c []byte) bool {
	if bytes.IndexByte(c, '\r') >= 0 {
		return true
	}
	if bytes.IndexByte(c, 0xc2) >= 0 && bytes.Contains(c, []byte("\u0085")) {
		return true
	}
	return bytes.IndexByte(c, 0xe2) >= 0 && (bytes.Contains(c, []byte("\u2028")) || bytes.Contains(c, []byte("\u2029")))
}

func (l *yamlLines) next() {
	if l.raw != nil && !l.eof && !l.rawDone {
		l.raw.Write(l.line)
	}
	l.rawDone = false
	line, err := l.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		l.spill = append(l.spill[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = l.r.ReadSlice('\n')
			l.spill = append(l.spill, line...)
		}
		line = l.spill
	}
	switch {
	case len(line) == 0 && err != nil:
		l.eof, l.line = true, nil
		if !errors.Is(err, io.EOF) {
			l.err = err
		}
		return
	case err != nil && !errors.Is(err, io.EOF):
		l.err = err
	}
	l.number++
	l.line = line
	c := bytes.TrimRight(line, "\r\n")
	if l.anomaly != nil && oddBreak(c) {
		*l.anomaly = true
	}
	l.indent = 0
	for l.indent < len(c) && c[l.indent] == ' ' {
		l.indent++
	}
	l.content = c[l.indent:]
	l.blank = len(l.content) == 0 || l.content[0] == '#'
}

// docEnd reports whether the line ends a document: "---" or "..." at its start.
func (l *yamlLines) docEnd() bool {
	return !l.eof && l.indent == 0 && (marker(l.content, "---") || marker(l.content, "..."))
}

// marker reports whether a line is the marker m; "---#..." is one too, as for
// Kubernetes' YAML reader, which splits a stream at lines starting with "---".
func marker(c []byte, m string) bool {
	return bytes.HasPrefix(c, []byte(m)) && (len(c) == 3 || c[3] == ' ' || c[3] == '\t' || m == "---" && c[3] == '#')
}

// in reports whether the current line belongs to a value under a key (or entry) at
// column col: it is indented more, or, when compact, is an entry of a sequence at
// col (kubectl writes "key:\n- item").
func (l *yamlLines) in(col int, compact bool) bool {
	if l.eof || l.docEnd() {
		return false
	}
	return l.blank || l.indent > col || compact && l.indent == col && isEntry(l.content)
}

// isEntry reports whether a line's content starts a block sequence entry.
func isEntry(c []byte) bool {
	return len(c) > 0 && c[0] == '-' && (len(c) == 1 || c[1] == ' ' || c[1] == '\r')
}

// plainKey returns the key of a "key: value" line and whether its value is on the
// following lines (nothing but a comment follows the colon). ok is false when the
// line does not start with a plain key the filter may judge: quoted and complex keys,
// merge keys, and anything else are kept as written.
func plainKey(c []byte) (key []byte, empty, ok bool) {
	i := 0
	for i < len(c) && isKeyByte(c[i]) {
		i++
	}
	if i == 0 || i >= len(c) || c[i] != ':' || c[0] == '-' {
		return nil, false, false
	}
	rest := c[i+1:]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' {
		return nil, false, false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return c[:i], len(rest) == 0 || rest[0] == '#', true
}

func isKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-'
}

// yamlFilter filters one YAML stream into objects.
type yamlFilter struct {
	l *yamlLines
	// emit receives each object: a document, or an item of a top-level List. Its
	// arguments are reused for the next item.
	emit func(filtered, raw []byte) error
	err  error
	// out and raw are the buffers of the items.
	out, raw bytes.Buffer
	// anomaly is set when lines of the object being read are not where its
	// structure allows: the YAML parser then reads the object as written, since
	// dropping lines around them could change what it makes of them.
	anomaly bool
}

// readYAMLSnapshot reads a YAML stream of objects and lists.
func readYAMLSnapshot(r *bufio.Reader, b *clusterBuilder) error {
	l := &yamlLines{r: r}
	l.next()
	objects := 0
	add := func(filtered, raw []byte) error {
		objects++
		o, err := decodeYAMLObject(filtered, raw)
		if err != nil {
			last := l.number // the line after the object is read, unless the stream ended
			if !l.eof {
				last--
			}
			return fmt.Errorf("%w (object %d, which ends at line %d)", err, objects, last)
		}
		return b.add(o)
	}
	f := &yamlFilter{l: l, emit: add}
	l.anomaly = &f.anomaly
	for !l.eof {
		if err := f.document(); err != nil {
			return err
		}
		if l.err != nil {
			return fmt.Errorf("failed to read the snapshot: %w", l.err)
		}
	}
	return l.err
}

// document reads one document: its top-level object, whose items (if a List) are
// emitted one by one, then the object itself.
func (f *yamlFilter) document() error {
	l := f.l
	for !l.eof && (l.blank || l.docEnd() || l.indent == 0 && len(l.content) > 0 && l.content[0] == '%') {
		if l.indent == 0 && marker(l.content, "...") {
			// What follows a document's end up to the next "---" is not read, as
			// Kubernetes' YAML reader (which splits at "---") and parser do.
			for l.next(); !l.eof && (l.indent != 0 || !marker(l.content, "---")); {
				l.next()
			}
			continue
		}
		l.next()
	}
	if l.eof {
		return nil
	}
	var out, raw bytes.Buffer
	l.raw = &raw
	defer func() { l.raw = nil }()
	f.anomaly = oddBreak(l.content) // the line was read before the object began
	if isEntry(l.content) {
		// A bare sequence of objects.
		f.items(l.indent)
	} else if _, _, ok := plainKey(l.content); ok {
		f.mapping(l.indent, objectShape, &out, true)
	} else {
		f.region(-1, false, &out)
	}
	// Lines the structure above did not take: YAML a parser reads in its own way.
	for !l.eof && !l.docEnd() {
		f.anomaly = true
		f.region(-1, false, &out)
	}
	if f.err != nil {
		return f.err
	}
	if len(bytes.TrimSpace(raw.Bytes())) == 0 {
		return nil
	}
	filtered := out.Bytes()
	if f.anomaly {
		filtered = nil
	}
	return f.emit(filtered, raw.Bytes())
}

// mapping filters the block mapping whose keys are at column col by s, writing what
// it keeps to out (nothing when out is nil). top is set for a document's top-level
// mapping, whose items stream out.
func (f *yamlFilter) mapping(col int, s *shape, out *bytes.Buffer, top bool) {
	l := f.l
	kind := "" // of an object, once read
	for !l.eof && !l.docEnd() && f.err == nil {
		if l.blank {
			l.next()
			continue
		}
		if l.indent != col {
			if l.indent > col { // not where a key of this mapping can be
				f.anomaly = true
				f.region(col, false, out)
				continue
			}
			return
		}
		key, empty, ok := plainKey(l.content)
		if !ok || string(key) == "<<" {
			f.region(col, true, out) // kept as written, with what it holds
			continue
		}
		keep, child := s.keeps(key)
		if s == objectShape {
			switch string(key) {
			case "kind":
				kind = string(bytes.TrimSpace(bytes.TrimPrefix(l.content, []byte("kind:"))))
			case "metadata":
				if kind == "Node" {
					child = nodeMetadataShape
				}
			}
		}
		switch {
		case !keep:
			f.region(col, empty, nil)
		case top && string(key) == "items" && empty:
			l.next()
			f.skipBlank()
			if l.in(col, true) && isEntry(l.content) {
				f.items(l.indent)
			}
		case child == nil || !empty:
			f.region(col, empty, out)
		default:
			write(out, l.line)
			l.next()
			f.value(col, true, child, out)
		}
	}
}

// value filters the block value under a key (compact) or an entry at column col,
// whose line is read.
func (f *yamlFilter) value(col int, compact bool, s *shape, out *bytes.Buffer) {
	l := f.l
	f.skipBlank()
	if !l.in(col, compact) {
		return
	}
	if isEntry(l.content) {
		f.sequence(l.indent, s, out)
		return
	}
	if _, _, ok := plainKey(l.content); ok {
		f.mapping(l.indent, s, out, false)
		return
	}
	f.region(col, compact, out)
}

// sequence filters the block sequence whose entries are at column col: each entry
// that is a mapping is filtered by s, anything else kept as written.
func (f *yamlFilter) sequence(col int, s *shape, out *bytes.Buffer) {
	l := f.l
	for !l.eof && !l.docEnd() && f.err == nil {
		if l.blank {
			l.next()
			continue
		}
		if l.indent != col || !isEntry(l.content) {
			if l.indent > col { // not where an entry of this sequence can be
				f.anomaly = true
				f.region(col, false, out)
				continue
			}
			return
		}
		write(out, l.line[:l.indent], "-\n")
		if l.raw != nil {
			// The line is about to lose its dash; raw keeps it as written.
			l.raw.Write(l.line)
			l.rawDone = true
		}
		f.entry(col, s, out)
	}
}

// entry filters the sequence entry at column col whose line is current: "- key:
// value" starts a mapping whose keys are at the column of key. The caller has
// written "-" on a line of its own, followed here by what is kept of the mapping, so
// that dropping the first key keeps the entry. Anything else is kept as written.
func (f *yamlFilter) entry(col int, s *shape, out *bytes.Buffer) {
	l := f.l
	pad := 1
	for pad < len(l.content) && l.content[pad] == ' ' {
		pad++
	}
	rest := l.content[pad:]
	// The line without its dash: what follows it stands at its own column.
	l.line[l.indent] = ' '
	l.indent += pad
	l.content = rest
	l.blank = len(rest) == 0 || rest[0] == '#'
	switch _, _, ok := plainKey(rest); {
	case l.blank:
		l.next()
		f.value(col, false, s, out)
	case ok:
		f.mapping(l.indent, s, out, false)
	default:
		f.region(col, false, out)
	}
	// Lines the structure did not take: YAML a parser reads in its own way.
	for f.l.in(col, false) {
		if f.l.blank {
			f.l.next()
			continue
		}
		f.anomaly = true
		f.region(col, false, out)
	}
}

// items emits each entry of the sequence at column col as an object of its own.
func (f *yamlFilter) items(col int) {
	l := f.l
	outer := l.raw
	defer func() { l.raw = outer }()
	for !l.eof && !l.docEnd() && f.err == nil {
		if l.blank {
			l.next()
			continue
		}
		if l.indent != col || !isEntry(l.content) {
			return
		}
		// The entry is a document of its own: its raw text is its lines as written
		// with the dash made a space.
		f.out.Reset()
		f.raw.Reset()
		l.raw = &f.raw
		outerAnomaly := f.anomaly
		f.anomaly = oddBreak(l.content)
		f.entry(col, objectShape, &f.out)
		l.raw = outer
		filtered := f.out.Bytes()
		if f.anomaly {
			filtered = nil
		}
		f.anomaly = outerAnomaly
		if f.err == nil {
			f.err = f.emit(filtered, f.raw.Bytes())
		}
	}
}

// skipBlank consumes blank and comment lines.
func (f *yamlFilter) skipBlank() {
	for !f.l.eof && f.l.blank && !f.l.docEnd() {
		f.l.next()
	}
}

// region consumes the current line and the lines of its value: those indented more
// than col, and, when compact, sequence entries at col. It writes them to out as
// they are (nothing when out is nil). With col -1 it takes the rest of the document.
func (f *yamlFilter) region(col int, compact bool, out *bytes.Buffer) {
	l := f.l
	if l.eof || l.docEnd() {
		return
	}
	write(out, l.line)
	l.next()
	for l.in(col, compact) {
		write(out, l.line)
		l.next()
	}
}

func write(out *bytes.Buffer, data ...any) {
	if out == nil {
		return
	}
	for _, d := range data {
		switch d := d.(type) {
		case []byte:
			out.Write(d)
		case string:
			out.WriteString(d)
		}
	}
}
