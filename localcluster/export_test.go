package localcluster

// ServiceAccountToken lets the tests of package localcluster_test issue tokens.
var ServiceAccountToken = serviceAccountToken
