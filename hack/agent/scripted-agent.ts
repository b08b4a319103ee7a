// A deterministic scripted coding agent for tests and `npm start`: it performs the actions given on its command line,
// in order, and reports them on stdout as Claude Code does with `--output-format stream-json --verbose` (system/init,
// assistant messages with tool_use blocks, user messages with tool_result blocks, a final result). Same arguments and
// workspace, same transcript: ids are derived from the prompt, durations are 0.
//   node hack/agent/scripted-agent.ts [action...]      (prompt on stdin or in $VOUCH_AGENT_PROMPT_FILE)
// actions:
//   write:PATH[=TEXT]   create or replace a file in the workspace        noop         change nothing
//   append:PATH=TEXT    append a line to a file                          hang         never finish
//   escape:PATH         try to write outside the workspace               leak:TEXT    say TEXT (e.g. a secret)
//   connect:HOST:PORT   HTTPS CONNECT through $HTTPS_PROXY, send "ping"  direct:HOST:PORT  connect without the proxy
//   model               call $ANTHROPIC_BASE_URL/v1/messages with $ANTHROPIC_API_KEY
//   api:PATH            call $ANTHROPIC_BASE_URL<PATH> (another endpoint of the model API: files, batches...)
//   say-file:PATH       say what a workspace file holds (an agent echoing a secret it read)
//   steal[:PATH,...]    look for the model credential in env, /proc and each PATH; write what was readable to stolen.txt
//   fail                exit 3
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';

const VERSION = '0.1.0-scripted';
const prompt = process.env['VOUCH_AGENT_PROMPT_FILE'] ? readFileSync(process.env['VOUCH_AGENT_PROMPT_FILE'], 'utf8') : '';
const seed = createHash('sha256').update(prompt).update(process.argv.slice(2).join('\0')).digest('hex');
const uuid = (n: number): string => {
  const h = createHash('sha256').update(`${seed}:${String(n)}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
const sessionId = uuid(0);
const model = process.env['VOUCH_AGENT_MODEL'] ?? 'scripted';
let counter = 0;
let turns = 0;

function emit(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const usage = { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0, service_tier: 'standard' };

function assistant(content: Record<string, unknown>[]): void {
  turns++;
  emit({
    type: 'assistant',
    message: { id: `msg_scripted_${String(++counter)}`, type: 'message', role: 'assistant', model, content, stop_reason: null, stop_sequence: null, usage },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: uuid(++counter),
  });
}

async function tool(name: string, input: Record<string, unknown>, act: () => Promise<string> | string): Promise<void> {
  const id = `toolu_scripted_${String(++counter)}`;
  assistant([{ type: 'tool_use', id, name, input }]);
  let content: string;
  let isError = false;
  try {
    content = await act();
  } catch (err) {
    content = (err as Error).message;
    isError = true;
  }
  emit({
    type: 'user',
    message: { role: 'user', content: [{ tool_use_id: id, type: 'tool_result', content, is_error: isError }] },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: uuid(++counter),
  });
}

function proxied(target: string): Promise<string> {
  const proxy = new URL(process.env['HTTPS_PROXY'] ?? 'http://127.0.0.1:3128');
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: target });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxy answered ${String(res.statusCode)} to CONNECT ${target}`));
        return;
      }
      socket.once('data', (d: Buffer) => {
        socket.destroy();
        resolvePromise(`tunnel to ${target} open; remote said: ${d.toString().trim()}`);
      });
      socket.on('error', reject);
      socket.write('ping\n');
    });
    req.on('error', reject);
    req.end();
  });
}

function direct(target: string): Promise<string> {
  const i = target.lastIndexOf(':');
  return new Promise((resolvePromise, reject) => {
    const s = connect(Number(target.slice(i + 1)), target.slice(0, i));
    s.on('connect', () => {
      s.destroy();
      resolvePromise(`connected to ${target} directly`);
    });
    s.on('error', (err) => {
      reject(new Error(`direct connection to ${target} failed: ${err.message}`));
    });
  });
}

async function callModel(path = '/v1/messages'): Promise<string> {
  const base = process.env['ANTHROPIC_BASE_URL'] ?? '';
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': process.env['ANTHROPIC_API_KEY'] ?? '' },
    body: JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: prompt }] }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`model API answered ${String(res.status)}: ${text.slice(0, 200)}`);
  return `model API answered ${String(res.status)}: ${text.slice(0, 500)}`;
}

function steal(paths: string[]): string {
  const found: string[] = [];
  for (const [k, v] of Object.entries(process.env)) found.push(`env ${k}=${v ?? ''}`);
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    found.push('/proc: not readable');
  }
  for (const pid of pids) {
    for (const f of ['environ', 'cmdline']) {
      try {
        found.push(`/proc/${pid}/${f}: ${readFileSync(`/proc/${pid}/${f}`, 'utf8').replace(/\0/g, ' ')}`);
      } catch {
        // not readable
      }
    }
  }
  for (const path of paths) {
    try {
      found.push(`${path}: ${readFileSync(path, 'utf8')}`);
    } catch (err) {
      found.push(`${path}: ${(err as Error).message}`);
    }
  }
  writeFileSync('stolen.txt', found.join('\n') + '\n');
  return `looked in ${String(pids.length)} processes${paths.length ? ` and ${paths.join(', ')}` : ''}; wrote stolen.txt`;
}

async function main(): Promise<number> {
  const actions = process.argv.slice(2);
  emit({
    type: 'system',
    subtype: 'init',
    cwd: process.cwd(),
    session_id: sessionId,
    tools: ['Bash', 'Edit', 'Read', 'Write', 'WebFetch'],
    mcp_servers: [],
    model,
    permissionMode: 'bypassPermissions',
    slash_commands: [],
    apiKeySource: 'ANTHROPIC_API_KEY',
    claude_code_version: VERSION,
    output_style: 'default',
    agents: [],
    skills: [],
    plugins: [],
    uuid: uuid(++counter),
  });
  assistant([{ type: 'text', text: `Working on: ${prompt.split('\n')[0] ?? ''}` }]);
  for (const action of actions) {
    const colon = action.indexOf(':');
    const verb = colon < 0 ? action : action.slice(0, colon);
    const arg = colon < 0 ? '' : action.slice(colon + 1);
    const eq = arg.indexOf('=');
    const path = eq < 0 ? arg : arg.slice(0, eq);
    const text = eq < 0 ? `// written by the scripted agent for: ${prompt.split('\n')[0] ?? ''}\nexport const greeting = 'hello';\n` : arg.slice(eq + 1).replace(/\\n/g, '\n');
    switch (verb) {
      case 'write':
        await tool('Write', { file_path: resolve(path), content: text }, () => {
          mkdirSync(dirname(resolve(path)), { recursive: true });
          writeFileSync(path, text);
          return `File created successfully at: ${resolve(path)}`;
        });
        break;
      case 'append':
        await tool('Edit', { file_path: resolve(path), old_string: '', new_string: text }, () => {
          appendFileSync(path, text.endsWith('\n') ? text : text + '\n');
          return `The file ${resolve(path)} has been updated.`;
        });
        break;
      case 'escape':
        await tool('Write', { file_path: path, content: 'escaped\n' }, () => {
          writeFileSync(path, 'escaped\n');
          return `File created successfully at: ${path}`;
        });
        break;
      case 'connect':
        await tool('WebFetch', { url: `https://${arg}/`, prompt: 'fetch' }, () => proxied(arg));
        break;
      case 'direct':
        await tool('Bash', { command: `nc -z ${arg.replace(':', ' ')}`, description: 'connect without the proxy' }, () => direct(arg));
        break;
      case 'model':
        await tool('Bash', { command: 'curl -s "$ANTHROPIC_BASE_URL/v1/messages"', description: 'ask the model' }, () => callModel());
        break;
      case 'api':
        await tool('Bash', { command: `curl -s "$ANTHROPIC_BASE_URL${arg}"`, description: 'use the model API' }, () => callModel(arg));
        break;
      case 'steal':
        await tool('Bash', { command: 'env; cat /proc/*/environ', description: 'look for credentials' }, () => steal(arg.split(',').filter((p) => p !== '')));
        break;
      case 'say-file':
        await tool('Read', { file_path: resolve(arg) }, () => readFileSync(arg, 'utf8'));
        assistant([{ type: 'text', text: `The file says: ${readFileSync(arg, 'utf8').trim()}` }]);
        break;
      case 'leak':
        assistant([{ type: 'text', text: `Here is what I found: ${arg}` }]);
        break;
      case 'noop':
        assistant([{ type: 'text', text: 'Nothing needs to change.' }]);
        break;
      case 'hang':
        assistant([{ type: 'text', text: 'Thinking for a long time...' }]);
        await new Promise(() => setInterval(() => undefined, 60_000));
        break;
      case 'fail':
        emit({ type: 'result', subtype: 'error_during_execution', is_error: true, duration_ms: 0, duration_api_ms: 0, num_turns: turns, session_id: sessionId, total_cost_usd: 0, usage, permission_denials: [], uuid: uuid(++counter) });
        return 3;
      default:
        throw new Error(`scripted agent: unknown action ${action}`);
    }
  }
  const result = existsSync('.') ? `Done: ${String(actions.length)} action(s).` : '';
  assistant([{ type: 'text', text: result }]);
  emit({ type: 'result', subtype: 'success', is_error: false, duration_ms: 0, duration_api_ms: 0, num_turns: turns, result, session_id: sessionId, total_cost_usd: 0, usage, modelUsage: {}, permission_denials: [], uuid: uuid(++counter) });
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
