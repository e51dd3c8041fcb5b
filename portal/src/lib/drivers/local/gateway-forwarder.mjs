// Runs INSIDE an instance's sandbox (network policy `none`): listens on the sandbox's own
// loopback and pipes every connection to the gateway socket the driver binds into the sandbox.
// A pure byte pipe: what may pass is decided on the host side (gateway-bridge.ts), which only
// forwards the portal's /api/ai/v1/ routes. Node built-ins only; started by the sandbox's shell
// next to code-server (see process.ts).
import net from 'node:net';

const SOCKET = '/run/ide/gateway.sock';
const PORT = 8787;

net
  .createServer((client) => {
    const upstream = net.connect(SOCKET);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  })
  .on('error', (e) => {
    console.error(`gateway forwarder: ${e.message}`);
    process.exit(1);
  })
  .listen(PORT, '127.0.0.1');
