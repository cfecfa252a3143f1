package plaidsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// kind is the JSON type a request field must have.
type kind int

const (
	kString  kind = iota
	kInt          // a JSON number without fraction or exponent
	kBool         //
	kNumber       // any JSON number
	kStrings      // an array of strings
	kObject       // an object with its own fields
	kObjects      // an array of objects with their own fields
)

var kindNames = map[kind]string{
	kString:  "a string",
	kInt:     "an integer",
	kBool:    "a boolean",
	kNumber:  "a number",
	kStrings: "an array of strings",
	kObject:  "an object",
	kObjects: "an array of objects",
}

// field declares one request field of an endpoint: its name, JSON type,
// whether it is required, and for objects their fields. A required string
// that is "" counts as missing, as Plaid reports it; null counts as absent
// everywhere.
type field struct {
	name     string
	kind     kind
	required bool
	fields   []field
}

func optional(name string, k kind, sub ...field) field {
	return field{name: name, kind: k, fields: sub}
}

func required(name string, k kind, sub ...field) field {
	return field{name: name, kind: k, required: true, fields: sub}
}

// requestCheck accumulates what is wrong with a request.
type requestCheck struct {
	unknown []string
	missing []string
	invalid *Error
}

// checkRequest enforces an endpoint's request schema: every field known
// (client_id and secret are always allowed at the top level), every
// required field present, every field of its type. It reports, in this
// order, UNKNOWN_FIELDS (all of them), MISSING_FIELDS (all of them), then
// the first INVALID_FIELD.
func checkRequest(fields map[string]json.RawMessage, schema []field) *Error {
	var c requestCheck
	top := append([]field{optional("client_id", kString), optional("secret", kString)}, schema...)
	c.object("", fields, top)
	switch {
	case len(c.unknown) > 0:
		sort.Strings(c.unknown)
		return newError(http.StatusBadRequest, "INVALID_REQUEST", "UNKNOWN_FIELDS",
			"the following fields are not recognized by this endpoint: "+strings.Join(c.unknown, ", "))
	case len(c.missing) > 0:
		return newError(http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS",
			"the following required fields are missing: "+strings.Join(c.missing, ", "))
	case c.invalid != nil:
		return c.invalid
	}
	return nil
}

func (c *requestCheck) object(prefix string, obj map[string]json.RawMessage, schema []field) {
	known := make(map[string]bool, len(schema))
	for _, f := range schema {
		known[f.name] = true
	}
	var unknown []string
	for name := range obj {
		if !known[name] {
			unknown = append(unknown, prefix+name)
		}
	}
	sort.Strings(unknown)
	c.unknown = append(c.unknown, unknown...)
	for _, f := range schema {
		raw, ok := obj[f.name]
		path := prefix + f.name
		if !ok || isNull(raw) || (f.kind == kString && string(bytes.TrimSpace(raw)) == `""`) {
			if f.required {
				c.missing = append(c.missing, path)
			}
			continue
		}
		c.value(path, raw, f)
	}
}

func (c *requestCheck) value(path string, raw json.RawMessage, f field) {
	bad := func() {
		if c.invalid == nil {
			c.invalid = errInvalidField(path + " must be " + kindNames[f.kind])
		}
	}
	raw = bytes.TrimSpace(raw)
	switch f.kind {
	case kString:
		if raw[0] != '"' {
			bad()
		}
	case kBool:
		if string(raw) != "true" && string(raw) != "false" {
			bad()
		}
	case kNumber:
		if !isNumber(raw) {
			bad()
		}
	case kInt:
		if _, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
			bad()
		}
	case kStrings:
		var v []string
		if raw[0] != '[' || json.Unmarshal(raw, &v) != nil {
			bad()
		}
	case kObject:
		var obj map[string]json.RawMessage
		if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
			bad()
			return
		}
		c.object(path+".", obj, f.fields)
	case kObjects:
		var arr []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &arr) != nil {
			bad()
			return
		}
		for i, el := range arr {
			var obj map[string]json.RawMessage
			el = bytes.TrimSpace(el)
			if len(el) == 0 || el[0] != '{' || json.Unmarshal(el, &obj) != nil {
				if c.invalid == nil {
					c.invalid = errInvalidField(fmt.Sprintf("%s[%d] must be an object", path, i))
				}
				continue
			}
			c.object(fmt.Sprintf("%s[%d].", path, i), obj, f.fields)
		}
	}
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

func isNumber(raw []byte) bool {
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return false
	}
	var n json.Number
	return json.Unmarshal(raw, &n) == nil
}

// decodeRequest decodes a request body that checkRequest accepted into v.
// Nulls leave fields at their zero value.
func decodeRequest(body []byte, v any) *Error {
	if err := json.Unmarshal(body, v); err != nil {
		return errInvalidField("request body: " + err.Error())
	}
	return nil
}
