package gogit

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/pem"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
)

// sshSigner signs commits with an SSH key in the SSHSIG format git uses for
// gpg.format=ssh (see OpenSSH's PROTOCOL.sshsig), namespace "git".
type sshSigner struct {
	key ssh.Signer
}

func newSSHSigner(pemBytes []byte) (*sshSigner, error) {
	k, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("invalid SSH signing key: %w", err)
	}
	return &sshSigner{key: k}, nil
}

const (
	sshsigMagic     = "SSHSIG"
	sshsigNamespace = "git"
	sshsigHash      = "sha512"
)

// Sign implements go-git's Signer: an armored SSH signature of message.
func (s *sshSigner) Sign(message io.Reader) ([]byte, error) {
	h := sha512.New()
	if _, err := io.Copy(h, message); err != nil {
		return nil, err
	}
	signed := ssh.Marshal(struct {
		Magic     [6]byte
		Namespace string
		Reserved  string
		Hash      string
		Digest    string
	}{Namespace: sshsigNamespace, Hash: sshsigHash, Digest: string(h.Sum(nil)), Magic: [6]byte([]byte(sshsigMagic))})
	algo := ""
	if s.key.PublicKey().Type() == ssh.KeyAlgoRSA {
		algo = ssh.KeyAlgoRSASHA512 // SHA-1 RSA signatures are refused by OpenSSH
	}
	var sig *ssh.Signature
	var err error
	if as, ok := s.key.(ssh.AlgorithmSigner); ok && algo != "" {
		sig, err = as.SignWithAlgorithm(rand.Reader, signed, algo)
	} else {
		sig, err = s.key.Sign(rand.Reader, signed)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to sign with the SSH key: %w", err)
	}
	blob := ssh.Marshal(struct {
		Magic     [6]byte
		Version   uint32
		PublicKey string
		Namespace string
		Reserved  string
		Hash      string
		Signature string
	}{Magic: [6]byte([]byte(sshsigMagic)), Version: 1, PublicKey: string(s.key.PublicKey().Marshal()),
		Namespace: sshsigNamespace, Hash: sshsigHash, Signature: string(ssh.Marshal(sig))})
	var out bytes.Buffer
	if err := pem.Encode(&out, &pem.Block{Type: "SSH SIGNATURE", Bytes: blob}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
