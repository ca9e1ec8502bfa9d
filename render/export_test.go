package render

// Exported for the tests of package render_test.
type CRDSchema = crdSchema

var (
	LoadCRDs       = loadCRDs
	CRDErrors      = crdErrors
	SplitDocuments = splitDocuments
)
