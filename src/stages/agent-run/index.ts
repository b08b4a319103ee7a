// Stage `agent-run`: runs a coding agent (the `claude-code` preset or any command) on the source workspace inside a
// bubblewrap sandbox (sandbox.ts) whose only way out is the egress proxy started beside it (proxy.ts, reached through
// launcher.ts); captures its transcript (secrets redacted, transcript.ts), the patch and a commit on the given branch
// with `Agent-Run` / `Agent-Transcript` trailers; and writes the agent-run predicate (docs/predicates.md) as evidence
// (AGENT_RUN_EVIDENCE, CONTRACTS: the sidecar signs it with the PipelineRun's other evidence).
// The agent's output is untrusted input for the rest of the pipeline: nothing here interprets what it says.

import { randomUUID } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { sha256File, sha256Hex } from '../../common/digest.ts';
import { VouchError, errorMessage } from '../../common/errors.ts';
import { AGENT_RUN_V01 } from '../../attest/predicates.ts';
import { REPORTS_DIR, evidence, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { git, policyAtBase, resolveCommit } from '../git.ts';
import { loadConfig } from '../../common/config.ts';
import { captureChange, checkoutAgentCommit, commitAgentChange, ignoredChanges, snapshotIgnored } from './change.ts';
import { policyRules } from '../secrets/rules.ts';
import { EgressProxy, parseHostRules, summarizeEgress, type EgressSummary, type HostRule } from './proxy.ts';
import { AGENT_HOME, EGRESS_DIR_IN_SANDBOX, credentialPaths, probeSandbox, runAgentProcess, toolDirs, visibleOnly, type AgentProcessOutcome, type ProcMode } from './sandbox.ts';
import { SYSTEM_DIRS } from '../../common/sandbox.ts';
import { redactSecrets, summarizeTranscript, type Redaction, type TranscriptSummary } from './transcript.ts';


/** The port inside the sandbox's own network namespace where launcher.ts relays to the proxy. */
const PROXY_PORT = 3128;
/** The stage reads the model credential from this variable of its own environment when no credential-file is given. */
export const CREDENTIAL_ENV = 'VOUCH_AGENT_CREDENTIAL';
/** What the agent gets in place of a key: the proxy drops it and adds the real one. */
const PLACEHOLDER_KEY = 'vouch-egress-proxy-adds-the-key';
const LAUNCHER = fileURLToPath(new URL('./launcher.ts', import.meta.url));

export interface AgentCommand {
  name: string;
  argv: string[];
  env: Record<string, string>;
  /** the transcript is stdout in stream-json (claude-code) or stdout and stderr as text */
  streamJson: boolean;
}

/** The argv of the agent: the claude-code preset, a JSON array, or a command line split on spaces. */
export function agentCommand(agent: string, prompt: string, model: string): AgentCommand {
  if (agent === 'claude-code') {
    return {
      name: 'claude-code',
      argv: ['claude', '-p', prompt, '--output-format', 'stream-json', '--verbose', ...(model ? ['--model', model] : []), '--dangerously-skip-permissions'],
      // the sandbox is the permission boundary; Claude Code refuses to skip permissions as root unless told it is sandboxed
      env: { IS_SANDBOX: '1', DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' },
      streamJson: true,
    };
  }
  let argv: string[];
  if (agent.trim().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(agent);
    } catch (err) {
      throw new VouchError('STAGE_USAGE', `--agent: not a JSON array of strings: ${errorMessage(err)}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new VouchError('STAGE_USAGE', '--agent: not a JSON array of strings');
    argv = parsed;
  } else {
    argv = agent.split(/\s+/).filter((a) => a !== '');
  }
  if (argv.length === 0) throw new VouchError('STAGE_USAGE', '--agent: empty command');
  // `node agent.ts`: the script is the agent, the interpreter only runs it
  const interpreter = /^(node|nodejs|python3?|sh|bash|deno|bun)$/.test(basename(argv[0]!)) && argv[1] !== undefined && !argv[1].startsWith('-');
  return { name: basename(interpreter ? argv[1]! : argv[0]!).replace(/\.(m?[jt]s|py|sh)$/, ''), argv, env: {}, streamJson: false };
}

function intParam(ctx: StageContext, name: string, min: number): number {
  const text = ctx.params[name] ?? '';
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new VouchError('STAGE_USAGE', `--${name}: expected a whole number >= ${String(min)}, got "${text}"`);
  return n;
}

function parseAgentEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter((l) => l !== '')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new VouchError('STAGE_USAGE', `--agent-env: "${line.slice(0, 40)}" is not NAME=VALUE`);
    env[m[1]!] = m[2]!;
  }
  return env;
}

/** Finds a command on the agent's PATH as the sandbox will (absolute or relative paths are taken as they are). */
function which(cmd: string, path: string, cwd: string): string | undefined {
  if (cmd.includes('/')) {
    const p = resolve(cwd, cmd);
    return existsSync(p) ? p : undefined;
  }
  for (const dir of path.split(delimiter)) {
    const p = join(dir, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The files that make up the agent: its executable and every argument that names an existing file, by digest. */
async function agentArtifacts(argv: readonly string[], path: string, cwd: string): Promise<{ path: string; digest: { sha256: string } }[]> {
  const out: { path: string; digest: { sha256: string } }[] = [];
  const files = [which(argv[0]!, path, cwd), ...argv.slice(1).filter((a) => a.includes('/') || /\.[a-z]+$/.test(a)).map((a) => resolve(cwd, a))];
  for (const f of files) {
    if (f === undefined) continue;
    let real: string;
    try {
      real = realpathSync(f);
      if (!statSync(real).isFile()) continue;
    } catch {
      continue;
    }
    if (out.some((a) => a.path === real)) continue;
    out.push({ path: real, digest: { sha256: await sha256File(real) } });
  }
  return out;
}

function bwrapVersion(bwrap: string): string {
  const r = spawnSync(bwrap, ['--version'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? r.stdout.trim().replace(/^bubblewrap\s+/, '') : 'unknown';
}

async function readPrompt(ctx: StageContext): Promise<{ text: string; source: string }> {
  const text = ctx.params['prompt'] ?? '';
  const file = ctx.params['prompt-file'] ?? '';
  if ((text === '') === (file === '')) throw new VouchError('STAGE_USAGE', 'give exactly one of --prompt and --prompt-file');
  if (text !== '') return { text, source: 'param' };
  const path = isAbsolute(file) ? file : resolve(ctx.source, file);
  try {
    return { text: await readFile(path, 'utf8'), source: `file:${file}` };
  } catch (err) {
    throw new VouchError('STAGE_INPUT_INVALID', `--prompt-file ${file} cannot be read: ${errorMessage(err)}`);
  }
}

async function readCredential(ctx: StageContext): Promise<{ value: string | undefined; file: string | undefined; source: string }> {
  const file = ctx.params['credential-file'] ?? '';
  if (file !== '') {
    const path = resolve(ctx.source, file);
    let value: string;
    try {
      value = (await readFile(path, 'utf8')).trim();
    } catch (err) {
      // the error names the file, never its content
      throw new VouchError('STAGE_INPUT_INVALID', `--credential-file ${file} cannot be read: ${errorMessage(err)}`);
    }
    if (value === '') throw new VouchError('STAGE_INPUT_INVALID', `--credential-file ${file} is empty`);
    return { value, file: path, source: 'file' };
  }
  const env = process.env[CREDENTIAL_ENV];
  if (env !== undefined && env !== '') return { value: env, file: undefined, source: `env:${CREDENTIAL_ENV}` };
  return { value: undefined, file: undefined, source: 'none' };
}

/**
 * What of the workspace's .vouch is not tracked by git: the embedded log's data (its signing key), the sidecar's, runs,
 * keys, old reports when the workspace is the user's own checkout (`vouch run --no-sandbox`). The agent keeps the
 * tracked policy.yaml.
 */
async function untrackedVouchEntries(source: string): Promise<string[]> {
  const dir = join(source, '.vouch');
  const tracked = new Set((await git(['ls-files', '-z', '--', '.vouch'], { cwd: source })).split('\0').filter((p) => p !== '').map((p) => p.split('/')[1]!));
  return (await readdir(dir)).filter((e) => !tracked.has(e)).map((e) => join(dir, e));
}

/** The signing key and log data of the config this stage sees ($VOUCH_CONFIG), wherever they are. */
function signingPaths(): string[] {
  try {
    const config = loadConfig();
    return [config.signing.key, config.tlog.data, config.sidecar.data].filter((p) => p !== '').map((p) => resolve(p));
  } catch {
    // an unreadable config: `vouch task` has already reported it; the empty root hides these anyway
    return [];
  }
}

type Outcome = 'committed' | 'no-change' | 'failed' | 'timed-out' | 'output-limit' | 'ignored-files-changed';

/** How many ignored paths the predicate and reasons name (the count is always complete). */
const IGNORED_LISTED = 100;

async function run(ctx: StageContext): Promise<StageOutcome> {
  const runId = randomUUID();
  const branch = ctx.params['branch'] ?? '';
  if (spawnSync('git', ['check-ref-format', '--branch', branch], { encoding: 'utf8' }).status !== 0 || branch.startsWith('-')) {
    throw new VouchError('STAGE_USAGE', `--branch "${branch}" is not a valid branch name`);
  }
  const timeoutSeconds = intParam(ctx, 'timeout-seconds', 1);
  const maxOutputBytes = intParam(ctx, 'max-output-bytes', 1024);
  const model = ctx.params['model'] ?? '';
  let allow: HostRule[];
  try {
    allow = parseHostRules(ctx.params['allowed-hosts'] ?? '');
  } catch (err) {
    throw new VouchError('STAGE_USAGE', `--allowed-hosts: ${errorMessage(err)}`);
  }
  let modelUrl: URL;
  try {
    modelUrl = new URL(ctx.params['model-url'] ?? '');
  } catch {
    throw new VouchError('STAGE_USAGE', `--model-url "${ctx.params['model-url'] ?? ''}" is not a URL`);
  }
  const credentialHeader = (ctx.params['credential-header'] ?? 'x-api-key').toLowerCase();
  const prompt = await readPrompt(ctx);
  const extraEnv = parseAgentEnv(ctx.params['agent-env'] ?? '');
  const command = agentCommand(ctx.params['agent'] ?? 'claude-code', prompt.text, model);
  const credential = await readCredential(ctx);
  const base = await resolveCommit(ctx.source, 'HEAD');
  // the policy's own secret patterns redact too, so the transcript is cleaned by every rule the secrets gate applies
  const { policy } = await policyAtBase(ctx.source, base);
  const extraRules = policyRules(policy.secrets.patterns);
  const bwrap = 'bwrap';
  const proc: ProcMode = probeSandbox(bwrap);

  // .vouch exists before the agent starts so that it can be mounted read-only: reports belong to the stages
  await mkdir(join(ctx.source, '.vouch'), { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'vouch-agent-run-'));
  const egressDir = join(scratch, 'egress');
  const socket = join(egressDir, 'proxy.sock');
  const out = join(scratch, 'out');
  const agentScratch = join(scratch, 'agent');
  let proxy: EgressProxy | undefined;
  try {
    for (const d of [egressDir, join(agentScratch, 'tmp'), out]) await mkdir(d, { recursive: true });
    const promptFile = join(agentScratch, 'prompt.txt');
    await writeFile(promptFile, prompt.text);
    const proxyUrl = `http://127.0.0.1:${String(PROXY_PORT)}`;
    const agentPath = extraEnv['PATH'] ?? [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter);
    const env: Record<string, string> = {
      PATH: agentPath,
      HOME: AGENT_HOME,
      TMPDIR: join(agentScratch, 'tmp'),
      LANG: 'C.UTF-8',
      HTTPS_PROXY: proxyUrl,
      HTTP_PROXY: proxyUrl,
      https_proxy: proxyUrl,
      http_proxy: proxyUrl,
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
      ANTHROPIC_BASE_URL: proxyUrl,
      ANTHROPIC_API_KEY: PLACEHOLDER_KEY,
      VOUCH_AGENT_PROMPT_FILE: promptFile,
      VOUCH_AGENT_RUN_ID: runId,
      ...(model ? { VOUCH_AGENT_MODEL: model } : {}),
      ...command.env,
      ...extraEnv,
    };
    const hide = [...credentialPaths(process.env['HOME']), ...credentialPaths('/root'), ...(await untrackedVouchEntries(ctx.source)), ...signingPaths()];
    if (credential.file !== undefined) hide.push(credential.file, realpathSync(credential.file));
    if (which(command.argv[0]!, agentPath, ctx.source) === undefined) {
      throw new VouchError('STAGE_INPUT_INVALID', `the agent command "${command.argv[0]!}" is not on the agent's PATH (${agentPath}); install it in the task image or set PATH in agent-env`);
    }
    const artifacts = await agentArtifacts(command.argv, agentPath, ctx.source);
    // the programs the agent runs, where they really are (outside the system directories): nothing else of the host
    const tools = toolDirs([dirname(realpathSync(process.execPath)), dirname(LAUNCHER), ...agentPath.split(delimiter).filter((d) => existsSync(d)).map((d) => realpathSync(d)), ...artifacts.map((a) => dirname(a.path))]);
    const spec = {
      argv: [process.execPath, LAUNCHER, join(EGRESS_DIR_IN_SANDBOX, 'proxy.sock'), String(PROXY_PORT), '--', ...command.argv],
      env,
      workspace: ctx.source,
      readOnly: [join(ctx.source, '.git'), join(ctx.source, '.vouch')],
      scratch: agentScratch,
      tools,
      egressDir,
      hide: [...new Set(hide)],
      proc,
    };

    const ignoredBefore = await snapshotIgnored(ctx.source, REPORTS_DIR.split('/')[0]!);
    proxy = new EgressProxy({ socketPath: socket, allow, model: { url: modelUrl, header: credentialHeader, credential: credential.value } });
    await proxy.listen();
    ctx.log.info({ runId, agent: command.name, proc, allowedHosts: allow.length }, 'agent-run: starting the agent in its sandbox');
    const stdoutFile = join(out, 'stdout');
    const stderrFile = join(out, 'stderr');
    const exit: AgentProcessOutcome = await runAgentProcess({
      bwrap,
      spec,
      stdin: prompt.text,
      stdoutFile,
      stderrFile,
      timeoutMs: timeoutSeconds * 1000,
      maxOutputBytes,
    });
    await proxy.close();
    const egressEntries = [...proxy.entries];
    proxy = undefined;

    // the transcript: stdout (stream-json) for claude-code, stdout then stderr for other agents; redacted before stored
    const stdout = await readFile(stdoutFile, 'utf8');
    const stderr = await readFile(stderrFile, 'utf8');
    const known = credential.value === undefined ? [] : [{ rule: 'vouch/model-credential', value: credential.value }];
    const rawTranscript = command.streamJson ? stdout : stdout + (stderr ? (stdout.endsWith('\n') || stdout === '' ? '' : '\n') + stderr : '');
    const transcript = await redactSecrets(rawTranscript, known, extraRules);
    const stderrRedacted = command.streamJson ? await redactSecrets(stderr, known, extraRules) : { text: '', redactions: [] as Redaction[] };
    const summary: TranscriptSummary = summarizeTranscript(transcript.text);
    const transcriptDigest = sha256Hex(transcript.text);
    const egressLog = egressEntries.map((e) => JSON.stringify(e)).join('\n') + (egressEntries.length ? '\n' : '');
    const egress: EgressSummary = summarizeEgress(egressEntries);

    const change = await captureChange(ctx.source, base, join(scratch, 'index'), REPORTS_DIR.split('/')[0]!);
    const { patch, patchDigest, filesChanged } = change;

    const ignored = ignoredChanges(ignoredBefore, await snapshotIgnored(ctx.source, REPORTS_DIR.split('/')[0]!));
    const outcome: Outcome = exit.timedOut ? 'timed-out' : exit.outputLimitExceeded ? 'output-limit' : exit.exitCode !== 0 ? 'failed' : ignored.length > 0 ? 'ignored-files-changed' : change.changed ? 'committed' : 'no-change';
    const reasons: string[] = [];
    let commit = '';
    if (outcome === 'committed') {
      commit = await commitAgentChange({
        repo: ctx.source,
        base,
        tree: change.tree,
        agentName: command.name,
        agentVersion: summary.agentVersion,
        model,
        promptText: prompt.text,
        promptVersion: ctx.params['prompt-version'] ?? '',
        runId,
        transcriptDigest,
        date: ctx.now,
      });
      reasons.push(`the agent's change is commit ${commit} on branch ${branch} (${String(filesChanged)} file(s))`);
    } else if (outcome === 'no-change') {
      reasons.push('no change: the agent exited successfully without changing any file; nothing to verify (changed=false)');
    } else if (outcome === 'timed-out') {
      reasons.push(`the agent did not finish within ${String(timeoutSeconds)}s and was killed; its partial transcript is kept`);
    } else if (outcome === 'output-limit') {
      reasons.push(`the agent wrote more than ${String(maxOutputBytes)} bytes of output and was stopped; the transcript is cut there`);
    } else if (outcome === 'failed') {
      reasons.push(`the agent exited with code ${String(exit.exitCode)}${exit.signal ? ` (${exit.signal})` : ''}`);
    }
    if (ignored.length > 0) {
      const named = ignored.slice(0, IGNORED_LISTED).map((c) => `${c.path} (${c.change})`).join(', ');
      reasons.push(
        `the agent changed ${String(ignored.length)} gitignored path(s), which its commit and patch cannot show but later stages would use: ` +
          `${named}${ignored.length > IGNORED_LISTED ? ', …' : ''}; nothing is committed`,
      );
    }
    if (transcript.redactions.length + stderrRedacted.redactions.length > 0) {
      reasons.push(`${String(transcript.redactions.length + stderrRedacted.redactions.length)} secret(s) the agent emitted were redacted from its transcript (the secrets stage fails on them)`);
    }
    if (egress.refused > 0) reasons.push(`${String(egress.refused)} network attempt(s) refused by the egress proxy: ${[...new Set(egressEntries.filter((e) => !e.allowed).map((e) => `${e.host}:${String(e.port)}`))].join(', ')}`);

    const predicate = {
      runId,
      agent: {
        name: command.name,
        version: summary.agentVersion ?? (ctx.params['agent-version'] || null),
        command: command.argv.map((a) => (a === prompt.text ? '<prompt>' : a)),
        artifacts,
      },
      model: { requested: model || null, reported: summary.model ?? null },
      prompt: { digest: { sha256: sha256Hex(prompt.text) }, version: ctx.params['prompt-version'] ?? '', source: prompt.source },
      sandbox: {
        runtime: 'bubblewrap',
        runtimeVersion: bwrapVersion(bwrap),
        namespaces: ['user', 'pid', 'network', 'ipc', 'uts', 'cgroup', 'mount'],
        capabilities: [],
        proc,
        mounts: [
          { path: '/', access: 'empty-tmpfs' },
          ...SYSTEM_DIRS.filter((p) => existsSync(p)).map((p) => ({ path: p, access: 'read-only' })),
          ...tools.map((p) => ({ path: p, access: 'read-only' })),
          { path: '/tmp', access: 'private-tmpfs' },
          { path: AGENT_HOME, access: 'private-tmpfs' },
          { path: ctx.source, access: 'read-write' },
          ...spec.readOnly.filter((p) => existsSync(p)).map((p) => ({ path: p, access: 'read-only' })),
          { path: agentScratch, access: 'read-write' },
          { path: EGRESS_DIR_IN_SANDBOX, access: 'read-only' },
          ...visibleOnly(spec.hide, [...SYSTEM_DIRS, ...tools, ctx.source, agentScratch]).map((p) => ({ path: p, access: 'hidden' })),
        ],
        env: Object.keys(env).sort(),
        network: {
          mode: 'egress-proxy',
          allowedHosts: allow.map((r) => (r.port === undefined ? r.host : `${r.host}:${String(r.port)}`)),
          modelApi: modelUrl.origin,
          credentialInjected: credential.value !== undefined,
          credentialHeader: credential.value !== undefined ? credentialHeader : null,
        },
        limits: { timeoutSeconds, maxOutputBytes },
      },
      egress: { ...egress, log: { name: 'egress.jsonl', digest: { sha256: sha256Hex(egressLog) } } },
      timing: { startedOn: exit.startedAt.toISOString(), finishedOn: exit.finishedAt.toISOString(), durationMs: exit.finishedAt.getTime() - exit.startedAt.getTime() },
      exit: { code: exit.exitCode, signal: exit.signal, timedOut: exit.timedOut, outputLimitExceeded: exit.outputLimitExceeded },
      transcript: {
        name: 'transcript.jsonl',
        format: summary.format,
        digest: { sha256: transcriptDigest },
        bytes: Buffer.byteLength(transcript.text),
        redactions: transcript.redactions.length + stderrRedacted.redactions.length,
        toolCalls: summary.toolCalls,
        toolsByName: summary.toolsByName,
        sessionId: summary.sessionId ?? null,
      },
      patch: { name: 'agent.patch', digest: { sha256: patchDigest }, bytes: Buffer.byteLength(patch), filesChanged },
      ignoredChanges: { count: ignored.length, paths: ignored.slice(0, IGNORED_LISTED) },
      repository: { baseCommit: base, branch, commit: commit || null },
      outcome,
    };
    const predicateText = JSON.stringify(predicate, null, 2) + '\n';
    // AGENT_RUN_EVIDENCE: the framework writes predicate.json and the result, the sidecar signs it (docs/sidecar.md)
    evidence(ctx, 'AGENT_RUN_EVIDENCE', AGENT_RUN_V01, predicateText, { file: 'predicate.json' });
    const passed = outcome === 'committed' || outcome === 'no-change';
    const files: Record<string, string> = { 'transcript.jsonl': transcript.text, 'agent.patch': patch, 'egress.jsonl': egressLog };
    if (command.streamJson) files['agent-stderr.log'] = stderrRedacted.text;
    return {
      results: {
        'run-id': runId,
        'patch-digest': `sha256:${patchDigest}`,
        'transcript-digest': `sha256:${transcriptDigest}`,
        branch,
        commit,
        changed: String(outcome === 'committed'),
        'tool-calls': summary.toolCalls === null ? '' : String(summary.toolCalls),
      },
      gate: { passed, reasons },
      files,
      report: { runId, outcome, base, branch, commit, egress, ignoredChanges: ignored, redactions: [...transcript.redactions, ...stderrRedacted.redactions], toolCalls: summary.toolCalls, exit: predicate.exit },
      finalize: outcome === 'committed' ? () => checkoutAgentCommit(ctx.source, branch, commit) : undefined,
    };
  } finally {
    if (proxy) await proxy.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

export const agentRunStage: Stage = {
  name: 'agent-run',
  description: 'run a coding agent in a sandbox with an egress proxy; capture transcript, patch and commit; write agent-run evidence',
  params: [
    { name: 'agent', description: 'the claude-code preset, or a command (words, or a JSON array of strings)', default: 'claude-code' },
    { name: 'agent-version', description: 'version of the agent when its transcript does not say (non-preset agents)', default: '' },
    { name: 'prompt', description: 'the task prompt as text (or use prompt-file)', default: '' },
    { name: 'prompt-file', description: 'a file holding the task prompt (relative to the source workspace)', default: '' },
    { name: 'prompt-version', description: 'the version of the prompt (recorded in the evidence and the commit)', required: true },
    { name: 'model', description: 'the model the agent is asked to use', default: '' },
    { name: 'allowed-hosts', description: 'hosts the agent may reach through the egress proxy (host or host:port; https via CONNECT)', default: '' },
    { name: 'model-url', description: 'the model API the proxy forwards ANTHROPIC_BASE_URL requests to, adding the credential', default: 'https://api.anthropic.com' },
    { name: 'credential-file', description: `file holding the model API credential, read by the stage only (else $${CREDENTIAL_ENV})`, default: '' },
    { name: 'credential-header', description: 'header the proxy puts the credential in (authorization sends Bearer)', default: 'x-api-key' },
    { name: 'timeout-seconds', description: 'the agent is killed after this long', default: '1800' },
    { name: 'max-output-bytes', description: 'the agent is stopped when its stdout and stderr pass this size', default: '33554432' },
    { name: 'agent-env', description: 'extra environment of the agent, NAME=VALUE per line (only these and the documented ones)', default: '' },
    { name: 'branch', description: 'the branch the agent commit goes on (created or moved, then checked out)', required: true },
  ],
  results: [
    { name: 'run-id', description: 'id of this agent run (the Agent-Run trailer)' },
    { name: 'patch-digest', description: 'sha256:<hex> of the patch (git diff --binary base..commit)' },
    { name: 'transcript-digest', description: 'sha256:<hex> of the stored (redacted) transcript' },
    { name: 'branch', description: 'the branch written' },
    { name: 'commit', description: "the agent's commit; empty when there is none" },
    { name: 'changed', description: '"true" when the agent changed files and they were committed, else "false" (pipelines stop on false)' },
    { name: 'tool-calls', description: 'tool calls in the transcript (stream-json); empty for text transcripts' },
    { name: 'AGENT_RUN_EVIDENCE', description: 'object {predicateType, uri, digest} of the agent-run predicate file' },
  ],
  run,
};
