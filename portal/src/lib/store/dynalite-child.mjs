// Runs dynalite in its own process (it throws storage errors inside its request handler,
// which would kill a host process). Exits when its parent goes away: stdin is a pipe from
// the parent, and EOF means the parent died, even by SIGKILL.
import dynalite from 'dynalite';

const [port, dir] = process.argv.slice(2);
const server = dynalite({
  path: dir || undefined,
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
});
server.listen(Number(port) || 0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
const stop = () => server.close(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
