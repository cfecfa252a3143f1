// Package archtest holds repository-wide tests that guard the architecture:
// which internal packages may import which, and that every package documents
// itself. It has no code of its own.
package archtest
