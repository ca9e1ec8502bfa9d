// Package gitserver runs real Git servers for tests, in the test process: smart HTTP
// with `git http-backend` behind basic or bearer auth, and SSH with an in-process
// server that runs git-upload-pack and git-receive-pack, pinned by an ed25519 host key.
// It also creates bare repositories and commits, tags and force-pushes to them with
// the git command line.
package gitserver
