// Command image writes Ballast's multi-arch OCI image from binaries built beforehand,
// without Docker: `make image` builds the static binaries and then runs
//
//	go run ./hack/image -out dist/image -image ghcr.io/ballast-dev/ballast \
//	    -version v1.2.3 -revision <commit> -created <commit time, Unix seconds> \
//	    linux/amd64=dist/bin/ballast-linux-amd64 linux/arm64=dist/bin/ballast-linux-arm64
//
// Each platform's image is an empty base, a layer of CA certificates, /etc/passwd and
// /etc/group, and a layer of /ballast and /sbom.spdx.json, run as 65532:65532. Every
// timestamp is the commit time and every mode and owner is fixed, so one commit always
// gives the same digests. The outputs are described in Outputs.
package main
