// Runs INSIDE the agent's sandbox (no network namespace of its own but a loopback): listens on 127.0.0.1:<port> and
// relays each connection to the egress proxy's unix socket bind-mounted into the sandbox, then runs the agent and
// exits as it exits. The agent's HTTPS_PROXY / ANTHROPIC_BASE_URL point at this port. It holds nothing secret: the
// proxy outside adds the credential. Standalone on purpose (node builtins only): it is started by path with node.
//   node launcher.ts <unix-socket> <port> -- <agent argv...>
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

const [socketPath, portText, sep, ...agent] = process.argv.slice(2);
if (socketPath === undefined || portText === undefined || sep !== '--' || agent.length === 0) {
  process.stderr.write('usage: launcher.ts <unix-socket> <port> -- <command...>\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = connect(socketPath);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(Number(portText), '127.0.0.1', () => {
  const child = spawn(agent[0]!, agent.slice(1), { stdio: 'inherit' });
  child.on('error', (err) => {
    process.stderr.write(`vouch agent-run: cannot start the agent ${agent[0]!}: ${err.message}\n`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    server.close();
    process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
  });
});
server.on('error', (err) => {
  process.stderr.write(`vouch agent-run: cannot listen on 127.0.0.1:${portText}: ${err.message}\n`);
  process.exit(126);
});
