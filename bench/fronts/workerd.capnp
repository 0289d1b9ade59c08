# workerd's configuration for the peer benchmarks (bench/peers.py): one worker, bench/fronts/
# workerd.js, with the two wasm guests beside it. The socket's address is given on the command
# line: workerd serve workerd.capnp -s http=127.0.0.1:PORT.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "workerd.js"),
    (name = "hello.wasm", wasm = embed "hello.wasm"),
    (name = "workload.wasm", wasm = embed "workload_cgi.wasm"),
  ],
  compatibilityDate = "2024-09-01",
);
