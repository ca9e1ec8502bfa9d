package render

// Exported for the tests of package render_test.
var (
	LoadCRDs       = loadCRDs
	SplitDocuments = splitDocuments
)
