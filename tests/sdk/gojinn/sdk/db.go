//go:build wasip1

package sdk

import (
	"encoding/json"
	"errors"
	"unsafe"
)

//go:wasmimport gojinn host_db_query
func hostDBQuery(queryPtr, queryLen, outPtr, outMax uint32) uint32

type database struct{}

// DB runs SQL on the host's database.
var DB = database{}

// Query runs a statement and returns its rows (up to 64 KiB of them, as JSON).
func (database) Query(query string) ([]map[string]interface{}, error) {
	buffer := make([]byte, 65536)
	written := hostDBQuery(address(query), uint32(len(query)),
		uint32(uintptr(unsafe.Pointer(&buffer[0]))), uint32(len(buffer)))
	var rows []map[string]interface{}
	if err := json.Unmarshal(buffer[:written], &rows); err != nil {
		return nil, err
	}
	if len(rows) > 0 {
		if message, failed := rows[0]["error"].(string); failed {
			return nil, errors.New(message)
		}
	}
	return rows, nil
}
