package pyjinn

import "syscall"

// The request and response go through WASI's fd_read and fd_write directly: package os (and its
// initialisation) is not needed for them.

// readStdin reads stdin to its end.
func readStdin() ([]byte, error) {
	data := make([]byte, 0, 4096)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		count, err := syscall.Read(0, data[len(data):cap(data)])
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			return nil, err
		}
		if count <= 0 {
			return data, nil
		}
		data = data[:len(data)+count]
	}
}

// writeStdout writes all of data to stdout, one buffer at a time.
func writeStdout(data []byte) error {
	return writeAll(1, data)
}

func writeStderr(text string) {
	_ = writeAll(2, []byte(text))
}

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		count, err := syscall.Write(fd, data)
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		data = data[count:]
	}
	return nil
}

func exit(status int) {
	syscall.Exit(status)
}
