package pyjinn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"

	"pyjinn/abi"
)

// SQL: one statement per call, in a transaction of its own, against the tenant's database.
// Parameters are bound by the engine, never formatted into the SQL; placeholders are the
// engine's own (? for SQLite and libSQL, $1 for PostgreSQL). A parameter is anything
// encoding/json encodes; a []byte goes as bytes ({"base64": "..."}).

// Rows is what a query returns: the column names and the rows, a value per column. Values are
// nil, bool, string, json.Number, or for bytes map[string]any{"base64": "..."} (see BytesValue).
type Rows struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// ExecResult is what a statement that changes data did.
type ExecResult struct {
	RowsAffected int64 `json:"rows_affected"`
	// LastInsertID is the rowid of the last row inserted, where the engine reports one.
	LastInsertID *int64 `json:"last_insert_id"`
}

// DBQuery runs one statement (needs permissions { db read } or db write) and returns its rows.
func DBQuery(sql string, params ...any) (Rows, error) {
	var rows Rows
	result, err := DBQueryJSON(sql, params...)
	if err == nil && decode(result, &rows) != nil {
		err = malformed("db_query")
	}
	return rows, err
}

// DBExec runs one statement that changes data (needs permissions { db write }).
func DBExec(sql string, params ...any) (ExecResult, error) {
	var done ExecResult
	result, err := DBExecJSON(sql, params...)
	if err == nil && decode(result, &done) != nil {
		err = malformed("db_exec")
	}
	return done, err
}

// DBQueryJSON is DBQuery returning the host's JSON as it came:
// {"columns": [...], "rows": [[...], ...]}.
func DBQueryJSON(sql string, params ...any) ([]byte, error) {
	encoded, err := encodeParams(params)
	if err != nil {
		return nil, err
	}
	return takeResult(abi.DBQuery(text(sql), size(sql), pointer(encoded), size(encoded)))
}

// DBExecJSON is DBExec returning the host's JSON: {"rows_affected": N, "last_insert_id": N}.
func DBExecJSON(sql string, params ...any) ([]byte, error) {
	encoded, err := encodeParams(params)
	if err != nil {
		return nil, err
	}
	return takeResult(abi.DBExec(text(sql), size(sql), pointer(encoded), size(encoded)))
}

// BytesValue is the bytes of a value that came as {"base64": "..."} in Rows, and whether it did.
func BytesValue(value any) ([]byte, bool) {
	object, ok := value.(map[string]any)
	if !ok || len(object) != 1 {
		return nil, false
	}
	encoded, ok := object["base64"].(string)
	if !ok {
		return nil, false
	}
	data, err := base64.StdEncoding.DecodeString(encoded)
	return data, err == nil
}

func encodeParams(params []any) ([]byte, error) {
	if len(params) == 0 {
		return nil, nil
	}
	values := make([]any, len(params))
	for index, param := range params {
		if data, ok := param.([]byte); ok {
			param = map[string]string{"base64": base64.StdEncoding.EncodeToString(data)}
		}
		values[index] = param
	}
	encoded, err := json.Marshal(values)
	if err != nil {
		return nil, &Error{Code: Invalid, Message: "SQL parameters: " + err.Error()}
	}
	return encoded, nil
}

// decode reads JSON keeping numbers exact (json.Number).
func decode(data []byte, into any) error {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	return decoder.Decode(into)
}
