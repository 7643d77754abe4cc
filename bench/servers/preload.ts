// Preloaded into every benchmarked server, Parley included (`--expose-gc --import`), for the
// measurement only: SIGUSR2 runs a full garbage collection, so memory is read at the same point
// in every server; and the server exits once the bench that started it is gone, even killed.
const gc = (globalThis as { gc?: () => void }).gc;
process.on('SIGUSR2', () => gc?.());

const parent = Number(process.env['BENCH_PARENT_PID'] ?? '0');
if (parent > 0) {
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      process.exit(0);
    }
  }, 1000).unref();
}
