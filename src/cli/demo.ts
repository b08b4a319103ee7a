import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { isVouchError, VouchError } from '../common/errors.ts';
import { preflightSandbox } from '../runner/sandbox.ts';
import { action, out, setup } from './context.ts';

// `vouch demo` (what `npm start` runs): the whole agent-PR story on one machine, on the bundled example repository
// (hack/demo/example/). It runs the very commands a user would, each printed before it runs so it can be repeated:
//   a sidecar (events in, signed evidence out, the embedded transparency log, the approvals API) on loopback;
//   agent-pr-verify under `vouch run`: the scripted agent writes a change in its sandbox, every gate judges it, the
//   risk gate waits, and the bundled DEMO-ONLY reviewer approves; the build pushes the image to a loopback registry;
//   then the signed provenance is verified offline (and a forgery refused), admission judges a Pod that runs the built
//   image (admitted) and one that runs an unverified image (denied, with reasons), and the HTML report is written.
// What this machine lacks is said loudly and left out, never faked: without bubblewrap the agent cannot run (its
// change is committed as a plain commit instead) and steps run unsandboxed; without docker-registry and buildah
// there is no image, so admission has nothing to judge.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('./main.ts', import.meta.url));
const EXAMPLE = join(REPO, 'hack', 'demo', 'example');
const KEYS = join(REPO, 'hack', 'demo', 'keys');
const REVIEWER = 'reviewer@demo.vouch.dev';
const SECURITY = 'security@demo.vouch.dev';
const PROMPT_VERSION = 'demo-1';
// the runner's sink token and the sidecar's: one value both sides read from the environment (never printed)
const TOKEN_ENV = 'VOUCH_SINK_TOKEN';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole agent-PR story on this machine, on a bundled example repository: a scripted agent proposes a change, ' +
        'agent-pr-verify judges it with every gate, a reviewer approves, the sidecar signs and logs the evidence, the ' +
        'image is built and pushed to a loopback registry, and admission judges a Pod that runs it',
    )
    .option('--dir <dir>', 'where to keep what it makes (default: a new directory under /var/tmp, visible to the sandboxed steps)')
    .action(
      action(async (opts: { dir?: string }, cmd: Command): Promise<number> => {
        setup(cmd);
        // the step sandbox hides /tmp: the workspace and the repository must be somewhere steps can see
        const dir = opts.dir ?? mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'vouch-demo-'));
        mkdirSync(dir, { recursive: true });
        const p = (...parts: string[]): string => join(dir, ...parts);
        const started = Date.now();
        out(`vouch demo: an agent's change, verified and proven, on one machine (everything it makes goes to ${dir})`);

        const sandbox = sandboxAvailable();
        const image = sandbox && has('docker-registry') && has('buildah');
        if (!sandbox) {
          out('\n   !! bubblewrap is not installed: the agent cannot run (vouch never runs an agent unsandboxed), so its change');
          out('   !! is committed as a plain commit, and the bundled steps run WITHOUT the step sandbox (--no-sandbox).');
          out('   !! Install it (apt-get install bubblewrap) to see the real thing.');
        }
        if (!image) {
          out('\n   !! docker-registry or buildah is missing (or bubblewrap): no image is built, so admission has nothing to judge.');
          out('   !! Install them (apt-get install docker-registry buildah) to see the image path and admission.');
        }

        step(1, 'Keys: the sidecar signs with its own key (ECDSA P-256); the reviewer key is a bundled DEMO-ONLY one');
        await vouch(['keys', 'generate', '--out', p('signer')]);

        step(2, 'The example repository: a tiny shop library, its base commit carrying .vouch/policy.yaml (reviewers, build)');
        const repo = p('repo');
        cpSync(join(EXAMPLE, 'repo'), repo, { recursive: true });
        if (!image) {
          // no registry to push to: the example's policy builds the tarball only
          const policy = join(repo, '.vouch', 'policy.yaml');
          writeFileSync(policy, readFileSync(policy, 'utf8').replace(/^ {2}containerfile: .*\n/m, ''));
          out('   (no image here: build.containerfile is left out of the example\'s policy, the build packs files only)');
        }
        git(repo, ['init', '--quiet', '--initial-branch=main']);
        git(repo, ['add', '--all']);
        git(repo, ['commit', '--quiet', '--no-gpg-sign', '-m', 'the example shop']);
        const base = git(repo, ['rev-parse', 'HEAD']).trim();
        const actions = JSON.parse(readFileSync(join(EXAMPLE, 'agent-actions.json'), 'utf8')) as string[];
        const agent = ['node', join(REPO, 'hack', 'agent', 'scripted-agent.ts'), ...actions];
        let head = base;
        if (!sandbox) {
          // what the agent would have written, as a plain commit (the bundled scripted agent, run here as trusted code)
          const r = spawnSync(process.execPath, agent.slice(1), { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
          if (r.status !== 0) throw new VouchError('INTERNAL', 'the scripted agent failed');
          git(repo, ['add', '--all']);
          git(repo, ['commit', '--quiet', '--no-gpg-sign', '-m', 'add a percentage discount']);
          head = git(repo, ['rev-parse', 'HEAD']).trim();
        }
        out(`   ${repo} at ${base.slice(0, 12)}`);

        let registry: ChildProcess | undefined;
        let sidecar: { proc: ChildProcess; url: string } | undefined;
        try {
          let imageRef = '';
          if (image) {
            step(3, 'A real OCI registry on loopback (Debian docker-registry), for the image the build pushes');
            const started = await startRegistry(p('registry'));
            registry = started.proc;
            imageRef = `${started.host}/demo/shop:1.0.0`;
            out(`   docker-registry on ${started.host}`);
          }

          step(4, 'The sidecar: Tekton CloudEvents in; signed, logged, stored evidence out; the reviewers\' approvals API');
          const config = p('vouch.yaml');
          writeFileSync(
            config,
            [
              '# the demo sidecar: everything on this machine, on loopback',
              `signing: { key: ${p('signer.key')} }`,
              `tlog: { data: ${p('tlog')} }`,
              'sidecar:',
              '  listen: 127.0.0.1:0',
              `  data: ${p('sidecar')}`,
              `  store: ${p('store')}`,
              `  tokenEnv: ${TOKEN_ENV}`,
              '  # gate evidence is read only from the run\'s workspace',
              `  evidenceRoots: ${p('workspace')}`,
              '',
            ].join('\n'),
          );
          const token = process.env[TOKEN_ENV] ?? randomBytes(24).toString('hex');
          const env = { [TOKEN_ENV]: token };
          sidecar = await startSidecar(config, env);
          out(`   listening on ${sidecar.url} (config ${config})`);

          // the gate counts only approvals it can prove are in the sidecar's log: it gets the log's trusted root
          const trustedRoot = p('trusted_root.json');
          writeFileSync(trustedRoot, await vouch(['log', 'trusted-root', '--data', p('tlog')], {}, true));

          step(5, 'agent-pr-verify under the local runner: agent, classify, lint, test, secrets, mutation, sbom, sca, build, gate, report');
          mkdirSync(p('workspace'), { recursive: true });
          const params = [
            `repo-url=${repo}`, `base-revision=${base}`, `head-revision=${head}`,
            ...(sandbox ? [`prompt=${readFileSync(join(EXAMPLE, 'prompt.md'), 'utf8').trim()}`, `prompt-version=${PROMPT_VERSION}`, `agent=${JSON.stringify(agent)}`] : []),
            `approvals=${p('sidecar', 'approvals')}`, `tlog-trusted-root=${trustedRoot}`, 'approval-timeout-seconds=300',
            // who asked for the change (on a cluster the TriggerBinding names the PR's author): never its approver
            'requested-by=github:demo-requester',
            ...(image ? [`image=${imageRef}`, 'image-tls-verify=false'] : []),
          ];
          const runArgs = [
            'run', '--pipeline-name', 'agent-pr-verify', ...params.flatMap((x) => ['-p', x]), '-w', `source=${p('workspace')}`,
            '--run-dir', p('run'), '--sink', `${sidecar.url}/events`,
            ...(image ? ['--allow-network', 'build'] : []), ...(sandbox ? [] : ['--no-sandbox']),
          ];
          const running = vouch(runArgs, env);
          // the reviewer: once the gate waits, read the brief and approve what it says (the bundled DEMO-ONLY key)
          const approved = approveWhenAsked(p('run'), p('workspace'), sidecar.url, env, running);
          await running;
          await approved;

          step(6, 'Wait for the sidecar to sign, log and store the run\'s provenance and gate evidence');
          const pipelineRun = JSON.parse(readFileSync(p('run', 'pipelinerun.json'), 'utf8')) as { status?: { results?: { name: string; value: unknown }[] } };
          // the image when one was built (admission judges images), else the npm pack tarball
          const subject = image ? imageDigestOf(p('run')) : artifactOf(p('run'));
          // provenance, test results, SBOM, vulnerability scan, risk assessment, and the agent run when there was one
          const bundles = await waitForAttestations(p('store'), subject, sandbox ? 6 : 5, 90_000);
          out(`   ${String(bundles.length)} signed statements about sha256:${subject.slice(0, 16)}…: ${bundles.map((b) => predicateName(join(p('store'), subject, b))).join(', ')}`);
          const tier = pipelineRun.status?.results?.find((r) => r.name === 'risk-tier')?.value;
          out(`   risk tier: ${typeof tier === 'string' ? tier : '?'}`);
          await stopChild(sidecar.proc);
          sidecar = undefined;

          step(7, "Verify the provenance offline against the log's trusted root, and watch a forged copy fail");
          const provenance = join(p('store'), subject, bundles.find((b) => b.startsWith('slsa.dev-provenance'))!);
          const verify = ['verify-bundle', '--bundle', provenance, '--key', p('signer.pub'), '--trusted-root', trustedRoot];
          await vouch([...verify, `sha256:${subject}`]);
          const forged = p('forged.sigstore.json');
          writeFileSync(forged, forge(readFileSync(provenance, 'utf8')));
          const refused = await vouch(['verify-bundle', '--bundle', forged, ...verify.slice(3), `sha256:${subject}`], {}, false, true);
          if (refused === '') throw new VouchError('INTERNAL', 'the forged bundle verified');

          const judge = [
            '--key', p('signer.pub'), '--approver', `${REVIEWER}=${join(KEYS, 'demo-reviewer.pub')}`, '--approver', `${SECURITY}=${join(KEYS, 'demo-security.pub')}:security`,
            '--approvals', p('sidecar', 'approvals'), '--store', p('store'), '--log-data', p('tlog'),
          ];
          const unverified = `${imageRef ? imageRef.split(':1.0.0')[0]! : '127.0.0.1:5000/demo/shop'}-unverified@sha256:${'0'.repeat(64)}`;
          const built = `${imageRef.split(':1.0.0')[0]!}@sha256:${subject}`;
          if (image) {
            step(8, 'Admission: judge two Pods exactly as the webhook would: one runs the verified image, one an unverified image');
            const pods = p('pods.yaml');
            writeFileSync(pods, podsYaml(built, unverified));
            out(`   ${pods}`);
            await vouch(['verify', ...judge, '-f', pods], {}, false, true, true);
          }

          step(image ? 9 : 8, "The reviewer's report: gates, risk, approvals, the agent run, the provenance graph and the verdicts");
          const report = p('report.html');
          if (image) await vouch(['report', ...judge, '--source', p('workspace'), '--out', report, built, unverified]);
          else out(`   no image to judge: the run's own page is ${p('workspace', '.vouch', 'reports', 'report', 'index.html')}`);

          out(`\nDone in ${String(Math.round((Date.now() - started) / 1000))} s. Where to look:`);
          if (image) out(`   the report:            ${report}`);
          out(`   the run (Tekton objects, step logs):   ${p('run')}`);
          out(`   the stages' reports:   ${p('workspace', '.vouch', 'reports')}  (brief.md in classify/)`);
          out(`   the signed evidence:   ${p('store')}  (Sigstore bundles; log: ${p('tlog')})`);
          out(`   approvals:             ${p('sidecar', 'approvals')}`);
          return 0;
        } finally {
          if (sidecar) await stopChild(sidecar.proc);
          if (registry) await stopChild(registry);
        }
      }),
    );
}

function step(n: number, text: string): void {
  out(`\n${String(n)}. ${text}`);
}

function sandboxAvailable(): boolean {
  try {
    preflightSandbox({ enabled: true });
    return true;
  } catch (err) {
    if (isVouchError(err, 'SANDBOX_UNAVAILABLE')) return false;
    throw err;
  }
}

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** git with no user or system config, so the machine's settings cannot leak into the example's commits. */
function git(repo: string, args: string[]): string {
  const r = spawnSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'Demo Author', GIT_AUTHOR_EMAIL: 'author@demo.vouch.dev', GIT_COMMITTER_NAME: 'Demo Author', GIT_COMMITTER_EMAIL: 'author@demo.vouch.dev' },
  });
  if (r.status !== 0) throw new VouchError('INTERNAL', `git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * Runs `vouch ARGS` as a child process with this Node, showing the command first. Its output goes to the terminal,
 * or is returned with `capture`. With `expectFailure`, a non-zero exit is the expected outcome: its stderr is returned
 * (and shown), and success is an error. `showOutput` keeps stdout on the terminal for an expected failure.
 */
async function vouch(args: string[], env: Record<string, string> = {}, capture = false, expectFailure = false, showOutput = false): Promise<string> {
  // a secret-bearing environment is named, never shown
  const shown = [...Object.keys(env).map((k) => `${k}=…`), 'vouch', ...args.map(quote)].join(' ');
  out(`   $ ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', capture ? 'pipe' : 'inherit', expectFailure && !showOutput ? 'pipe' : 'inherit'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (expectFailure) {
        if (!showOutput) out(`   refused as it must be: ${stderr.trim()}`);
        resolve(code === 0 ? '' : stderr || 'refused');
      } else if (code === 0) resolve(stdout);
      else reject(new VouchError('INTERNAL', `the demo step \`vouch ${args[0] ?? ''}\` failed (exit ${String(code ?? 'signal')}); see its output above`));
    });
  });
}

function quote(arg: string): string {
  const shown = arg.length > 160 ? `${arg.slice(0, 150)}…` : arg;
  return /^[\w@%+=:,./-]+$/.test(shown) ? shown : `'${shown.replaceAll("'", "'\\''")}'`;
}

/** Waits until the gate says it waits for approvals, then approves as the demo reviewer (unless the run ends first). */
async function approveWhenAsked(runDir: string, workspace: string, sidecarUrl: string, env: Record<string, string>, running: Promise<string>): Promise<void> {
  let finished = false;
  void running.then(
    () => (finished = true),
    () => (finished = true),
  );
  const gateLog = join(runDir, 'logs', 'gate', 'gate.log');
  while (!finished) {
    if (existsSync(gateLog) && readFileSync(gateLog, 'utf8').includes('waiting for approvals')) {
      const pr = JSON.parse(readFileSync(join(runDir, 'pipelinerun.json'), 'utf8')) as { metadata: { name: string; namespace: string } };
      out(`\n   The gate waits for a reviewer. The brief they read: ${join(workspace, '.vouch', 'reports', 'classify', 'brief.md')}`);
      await vouch(['approve', '--run', `${pr.metadata.namespace}/${pr.metadata.name}`, '--key', join(KEYS, 'demo-reviewer.key'), '--reviewer', REVIEWER, '--source', workspace, '--sidecar', sidecarUrl, '--comment', 'read the brief: the discount is tested'], env);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function taskResult(runDir: string, task: string, name: string): string {
  const file = readdirSync(join(runDir, 'taskruns')).find((f) => f.endsWith(`-${task}.json`));
  if (!file) throw new VouchError('INTERNAL', `the run has no ${task} TaskRun`);
  const tr = JSON.parse(readFileSync(join(runDir, 'taskruns', file), 'utf8')) as { status?: { results?: { name: string; value: unknown }[] } };
  const v = tr.status?.results?.find((r) => r.name === name)?.value;
  if (v === undefined) throw new VouchError('INTERNAL', `the ${task} TaskRun has no result ${name}`);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** sha256 hex of the build's file artifact (its ARTIFACT_OUTPUTS digest). */
function artifactOf(runDir: string): string {
  const outputs = JSON.parse(taskResult(runDir, 'build', 'ARTIFACT_OUTPUTS')) as { digest?: string };
  return (outputs.digest ?? '').replace(/^sha256:/, '');
}

function imageDigestOf(runDir: string): string {
  return taskResult(runDir, 'build', 'IMAGE_DIGEST').replace(/^sha256:/, '');
}

/** The bundle file names in the store for a subject, once at least `count` are there (the sidecar works after the run). */
async function waitForAttestations(store: string, sha256: string, count: number, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dir = join(store, sha256);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sigstore.json')).sort() : [];
    if (files.length >= count && files.some((f) => f.startsWith('slsa.dev-provenance'))) return files;
    if (Date.now() > deadline) throw new VouchError('INTERNAL', `after ${String(timeoutMs / 1000)} s the store holds ${String(files.length)} of ${String(count)} attestations for sha256:${sha256}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `vouch sidecar --config FILE`, until it prints where it listens. */
function startSidecar(config: string, env: Record<string, string>): Promise<{ proc: ChildProcess; url: string }> {
  out(`   $ ${Object.keys(env).map((k) => `${k}=…`).join(' ')} vouch --config ${config} sidecar`);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, '--config', config, 'sidecar'], { env: { ...process.env, ...env, VOUCH_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = '';
    proc.on('error', reject);
    proc.on('exit', (code) => {
      reject(new VouchError('INTERNAL', `the sidecar exited (${String(code)}) before it listened: ${seen}`));
    });
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      seen += d;
      const m = /listening on (\S+)/.exec(seen);
      if (m) resolve({ proc, url: m[1]! });
    });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => {
        resolve(port);
      });
    });
  });
}

/** Debian's docker-registry on a free loopback port, its storage in `dir`. */
async function startRegistry(dir: string): Promise<{ proc: ChildProcess; host: string }> {
  mkdirSync(dir, { recursive: true });
  const host = `127.0.0.1:${String(await freePort())}`;
  const config = join(dir, 'config.yml');
  writeFileSync(config, ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, 'http:', `  addr: ${host}`, ''].join('\n'));
  out(`   $ docker-registry serve ${config}`);
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new VouchError('INTERNAL', `docker-registry exited with ${String(proc.exitCode)}`);
    try {
      if ((await fetch(`http://${host}/v2/`)).status === 200) return { proc, host };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new VouchError('INTERNAL', `docker-registry did not come up on ${host}`);
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A bundle's predicate type, shortly: `…/test-result/v0.1` → test-result, `https://cyclonedx.org/bom` → bom. */
function predicateName(bundleFile: string): string {
  const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as { dsseEnvelope?: { payload?: string } };
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope?.payload ?? '', 'base64').toString('utf8') || '{}') as { predicateType?: string };
  return (statement.predicateType ?? '?').split('/').filter((part) => part !== '' && !/^v\d/.test(part)).pop() ?? '?';
}

function podsYaml(verified: string, unverified: string): string {
  const pod = (name: string, image: string): string =>
    ['apiVersion: v1', 'kind: Pod', `metadata: {name: ${name}, namespace: prod}`, 'spec:', '  containers:', `    - name: shop`, `      image: ${image}`].join('\n');
  return `${pod('shop', verified)}\n---\n${pod('shop-unverified', unverified)}\n`;
}

/** Rewrites the builder id inside the signed statement, leaving signature and log entry as they were. */
function forge(bundleText: string): string {
  const bundle = JSON.parse(bundleText) as { dsseEnvelope: { payload: string } };
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
    predicate: { runDetails: { builder: { id: string } } };
  };
  statement.predicate.runDetails.builder.id = 'https://attacker.example/builder';
  bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  return JSON.stringify(bundle);
}
