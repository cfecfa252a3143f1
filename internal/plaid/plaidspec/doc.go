// Package plaidspec embeds Plaid's official OpenAPI document (version
// 2020-09-14_1.697.4, reduced to the endpoints and webhooks plaidstream uses,
// prose removed; see README.md) so tests anywhere in the module can check
// Plaid-facing traffic against it.
package plaidspec

import (
	"bytes"
	_ "embed"
)

//go:embed openapi.yml
var document []byte

// Version is the info.version of the embedded document.
const Version = "2020-09-14_1.697.4"

// Document returns a copy of the embedded OpenAPI document (YAML).
func Document() []byte { return bytes.Clone(document) }
