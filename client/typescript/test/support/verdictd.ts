/**
 * Starts the real verdictd built by CMake (${VERDICT_BUILD_DIR}, else the
 * repository's build/) on a free loopback port, for tests and the demo.
 * The port is read from its "verdictd: serving on HOST:PORT" line; nothing
 * sleeps.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root (this file is dist/test/support/verdictd.js). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "..");

export function verdictdPath(): string {
  const buildDir = process.env.VERDICT_BUILD_DIR ?? join(repoRoot, "build");
  const path = join(buildDir, "server", "verdictd");
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build verdictd first (make build)`);
  }
  return path;
}

export interface VerdictdOptions {
  /** A policy directory to serve as it is (e.g. the repository's policies/). */
  policiesDir?: string;
  /** Or policy files to write into a fresh directory: name → YAML. */
  policies?: Record<string, string>;
  /** verdictd's configuration file, YAML; written next to the policies. */
  config?: string;
  /** Other files the configuration names (keys, JWKS): name → contents. */
  files?: Record<string, string>;
  /** How long to wait for it to serve. Default 20 s. */
  startTimeoutMs?: number;
}

export class Verdictd {
  private output = "";

  private constructor(
    private readonly child: ChildProcess,
    /** The scratch directory: policies/, the configuration and files. */
    readonly dir: string,
    /** The policy directory served. */
    readonly policiesDir: string,
  ) {}

  /** "127.0.0.1:PORT", known once started. */
  address = "";

  static async start(options: VerdictdOptions = {}): Promise<Verdictd> {
    const dir = mkdtempSync(join(tmpdir(), "verdictd-ts-"));
    let policiesDir = options.policiesDir;
    if (!policiesDir) {
      policiesDir = join(dir, "policies");
      mkdirSync(policiesDir);
      for (const [name, text] of Object.entries(options.policies ?? {})) {
        writeFileSync(join(policiesDir, name), text);
      }
    }
    for (const [name, text] of Object.entries(options.files ?? {})) {
      writeFileSync(join(dir, name), text);
    }
    const args = ["--listen", "127.0.0.1:0", "--policies", policiesDir, "--metrics-listen", ""];
    if (options.config !== undefined) {
      const configPath = join(dir, "verdictd.yaml");
      writeFileSync(configPath, options.config);
      args.unshift("--config", configPath);
    }
    const child = spawn(verdictdPath(), args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    const server = new Verdictd(child, dir, policiesDir);
    await server.waitForServing(options.startTimeoutMs ?? 20_000);
    return server;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Everything verdictd wrote so far. */
  log(): string {
    return this.output;
  }

  /**
   * Freezes the process (SIGSTOP): connections stay open, nothing answers.
   * Resolves once every thread of it has stopped: kill() only sends the
   * signal, and a thread running on another CPU could still answer a call
   * made right after it.
   */
  async pause(): Promise<void> {
    this.child.kill("SIGSTOP");
    const tasks = `/proc/${this.pid}/task`;
    const stopped = () =>
      readdirSync(tasks).every((task) => {
        const stat = readFileSync(`${tasks}/${task}/stat`, "utf8");
        // The state follows the parenthesised command name.
        return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
      });
    const deadline = performance.now() + 2000;
    while (!stopped()) {
      if (performance.now() > deadline) throw new Error(`verdictd (pid ${this.pid}) did not stop`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  resume(): void {
    this.child.kill("SIGCONT");
  }

  /** Writes a policy file into the served directory. */
  writePolicy(name: string, text: string): void {
    writeFileSync(join(this.policiesDir, name), text);
  }

  /** Asks verdictd to reload its policies (SIGHUP). */
  reload(): void {
    this.child.kill("SIGHUP");
  }

  /** SIGTERM (SIGCONT first, if paused), then waits for the exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((done) => this.child.once("exit", () => done()));
      this.child.kill("SIGCONT");
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private waitForServing(timeoutMs: number): Promise<void> {
    return new Promise((resolveStart, rejectStart) => {
      const marker = /verdictd: serving on (\S+)/;
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        rejectStart(new Error(`verdictd did not serve within ${timeoutMs} ms:\n${this.output}`));
      }, timeoutMs);
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        const match = marker.exec(this.output);
        if (match && !this.address) {
          this.address = match[1] ?? "";
          clearTimeout(timer);
          resolveStart();
        }
      };
      this.child.stdout?.on("data", onData);
      this.child.stderr?.on("data", onData);
      this.child.once("exit", (code, signal) => {
        clearTimeout(timer);
        if (!this.address) {
          rejectStart(new Error(`verdictd exited (${code ?? signal}) before serving:\n${this.output}`));
        }
      });
    });
  }
}
