package localcluster

// ServiceAccountToken lets the tests of package localcluster_test issue tokens.
var ServiceAccountToken = serviceAccountToken

// BallastSources lets the tests of package localcluster_test list the binary's sources.
var BallastSources = ballastSources
