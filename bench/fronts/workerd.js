// The workerd peer (bench/peers.py): one worker, four routes.
//   /hello           JS hello (the isolate is warm: workerd reuses it across requests)
//   /workload        the Gojinn workload in JS: parse {"id":"1","value":100}, answer value*1.15
//   /wasm/hello      bench/guests/hello.c (wasm32-wasi), a fresh WebAssembly.Instance per request
//   /wasm/workload   bench/guests/workload.c built with -DCGI, a fresh instance per request
// The wasm modules are compiled once (workerd loads them as WebAssembly.Module); each request
// instantiates one with a minimal WASI preview1 shim: stdin is the request body, stdout the
// answer, as in pyjinn and the wasmtime CLI.
import hello from "hello.wasm";
import workload from "workload.wasm";

class Exit extends Error {
  constructor(code) {
    super(`exit ${code}`);
    this.code = code;
  }
}

function run(module, input) {
  let memory;
  let offset = 0;
  const output = [];
  const iovecs = (pointer, count) => {
    const view = new DataView(memory.buffer);
    const result = [];
    for (let i = 0; i < count; i++) {
      result.push([view.getUint32(pointer + 8 * i, true), view.getUint32(pointer + 8 * i + 4, true)]);
    }
    return result;
  };
  const wasi = {
    fd_read(fd, pointer, count, read) {
      let total = 0;
      for (const [buffer, length] of iovecs(pointer, count)) {
        const n = Math.min(length, input.length - offset);
        new Uint8Array(memory.buffer, buffer, n).set(input.subarray(offset, offset + n));
        offset += n;
        total += n;
        if (n < length) break;
      }
      new DataView(memory.buffer).setUint32(read, total, true);
      return 0;
    },
    fd_write(fd, pointer, count, written) {
      let total = 0;
      for (const [buffer, length] of iovecs(pointer, count)) {
        if (fd === 1) output.push(new Uint8Array(memory.buffer, buffer, length).slice());
        total += length;
      }
      new DataView(memory.buffer).setUint32(written, total, true);
      return 0;
    },
    proc_exit(code) {
      throw new Exit(code);
    },
  };
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi });
  memory = instance.exports.memory;
  try {
    instance.exports._start();
  } catch (error) {
    if (!(error instanceof Exit) || error.code !== 0) throw error;
  }
  return new Blob(output);
}

const encoder = new TextEncoder();

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/hello") {
      return new Response("hello", { headers: { "content-type": "text/plain" } });
    }
    if (path === "/workload") {
      const value = await request.json();
      // 15 significant digits, as the C guest prints them (%.15g).
      const answer = { id: value.id, result: Number((value.value * 1.15).toPrecision(15)) };
      return new Response(JSON.stringify(answer), {
        headers: { "content-type": "application/json" },
      });
    }
    if (path === "/wasm/hello") {
      // The pyjinn guest answers with a response envelope, as it does under pyjinn.
      const envelope = JSON.stringify({ method: request.method, path, body: await request.text() });
      const answer = JSON.parse(await run(hello, encoder.encode(envelope)).text());
      return new Response(answer.body, { status: answer.status, headers: { "content-type": "text/plain" } });
    }
    if (path === "/wasm/workload") {
      const body = new Uint8Array(await request.arrayBuffer());
      return new Response(run(workload, body), { headers: { "content-type": "application/json" } });
    }
    return new Response("not found", { status: 404 });
  },
};
