package pyjinn

import "pyjinn/abi"

// Object storage. Keys follow the key-value rules, at most 255 characters; blob_read and
// blob_write grant namespaces. Objects are at most blob_max_size bytes (32 MiB by default).

// BlobInfo is one stored object, as BlobList gives it.
type BlobInfo struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// BlobPut stores an object, replacing any object of that key.
func BlobPut(key string, data []byte) error {
	return check(abi.BlobPut(text(key), size(key), pointer(data), size(data)))
}

// BlobGet reads an object; an error with code NotFound when there is none.
func BlobGet(key string) ([]byte, error) {
	return takeResult(abi.BlobGet(text(key), size(key)))
}

// BlobDelete deletes an object; deleting a missing object is not an error.
func BlobDelete(key string) error {
	return check(abi.BlobDelete(text(key), size(key)))
}

// BlobList returns the readable objects whose keys start with prefix, sorted by key.
func BlobList(prefix string) ([]BlobInfo, error) {
	listed, err := takeResult(abi.BlobList(text(prefix), size(prefix)))
	if err != nil {
		return nil, err
	}
	var blobs []BlobInfo
	if decode(listed, &blobs) != nil {
		return nil, malformed("blob_list")
	}
	return blobs, nil
}
