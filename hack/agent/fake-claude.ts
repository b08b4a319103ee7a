// A fake `claude` (Claude Code CLI) that replays a recorded stream-json session instead of calling a model, so the
// agent-run stage's claude-code preset can be tested end to end offline: it accepts the flags the preset passes,
// refuses `--output-format stream-json` without `--verbose` as the real CLI does, prints the recording line by line
// and applies the recording's Write and Edit tool calls to the working directory (paths recorded under the session's
// cwd are mapped to the current one). An Edit whose old_string is not in the file fails the replay (exit 1).
//   VOUCH_FAKE_CLAUDE_RECORDING=<file.jsonl> claude -p <prompt> --output-format stream-json --verbose [--model M] ...
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!args.includes('-p') && !args.includes('--print')) {
  process.stderr.write('fake claude: only print mode (-p) is replayed\n');
  process.exit(1);
}
if (flag('--output-format') === 'stream-json' && !args.includes('--verbose')) {
  process.stderr.write('Error: When using --print, --output-format=stream-json requires --verbose\n');
  process.exit(1);
}
const recording = process.env['VOUCH_FAKE_CLAUDE_RECORDING'] ?? fileURLToPath(new URL('./recordings/claude-code-add-subtract.jsonl', import.meta.url));
const lines = readFileSync(recording, 'utf8').split('\n').filter((l) => l.trim() !== '');
let recordedCwd = '';

function local(path: string): string {
  return join(process.cwd(), recordedCwd ? relative(recordedCwd, path) : path);
}

interface Block {
  type: string;
  name?: string;
  input?: { file_path?: string; content?: string; old_string?: string; new_string?: string; replace_all?: boolean };
}

for (const line of lines) {
  const event = JSON.parse(line) as { type: string; subtype?: string; cwd?: string; message?: { content?: Block[] } };
  if (event.type === 'system' && event.subtype === 'init') recordedCwd = event.cwd ?? '';
  for (const block of event.type === 'assistant' ? (event.message?.content ?? []) : []) {
    if (block.type !== 'tool_use' || !block.input?.file_path) continue;
    const path = local(block.input.file_path);
    if (block.name === 'Write') {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, block.input.content ?? '');
    } else if (block.name === 'Edit') {
      const before = readFileSync(path, 'utf8');
      const old = block.input.old_string ?? '';
      if (!before.includes(old)) {
        process.stderr.write(`fake claude: the recording's Edit of ${path} does not apply here\n`);
        process.exit(1);
      }
      writeFileSync(path, block.input.replace_all ? before.split(old).join(block.input.new_string ?? '') : before.replace(old, () => block.input?.new_string ?? ''));
    }
  }
  process.stdout.write(line + '\n');
}
