// Starts a real `baton serve` on a temporary SQLite database for the browser
// tests, and finds Chromium. Nothing here talks to anything but 127.0.0.1.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { createServer } from "node:http";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const chromiumPath = process.env.BATON_CHROMIUM || "/usr/bin/chromium";

// chromiumMissing says why browser tests cannot run, or "" when they can.
// Locally a missing Chromium skips them; under CI=true it fails them.
export function chromiumMissing() {
  if (existsSync(chromiumPath)) return "";
  const why = `Chromium not found at ${chromiumPath} (set BATON_CHROMIUM)`;
  if (process.env.CI === "true") throw new Error(why);
  return why;
}

export const adminPassword = "e2e admin password";

// startServer builds the binary and serves it on a free loopback port. It
// resolves to {url, stop}; stop ends the server and removes its data.
export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "baton-e2e-"));
  const bin = join(dir, "baton");
  execFileSync("go", ["build", "-o", bin, "./cmd/baton"], { cwd: root, stdio: "inherit" });
  const child = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--db", `sqlite://${join(dir, "baton.db")}`, "--log-format", "json"], {
    cwd: dir,
    env: { ...process.env, BATON_ADMIN_PASSWORD: adminPassword },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("baton serve did not start in 60s:\n" + logs.join("\n"))), 60_000);
    child.on("exit", (code) => reject(new Error(`baton serve exited with ${code}:\n` + logs.join("\n"))));
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        logs.push(line);
        const m = line.match(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/) || line.match(/url=(http:\/\/127\.0\.0\.1:\d+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    }
  });
  const echo = await startEcho();
  const stop = async () => {
    await echo.stop();
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, echo: echo.url, stop, logs, pid: child.pid };
}

// startEcho serves a small JSON API on a free loopback port for the
// workflows' http steps to call: GET /healthz answers {"status":"ok"}, any
// other path echoes the method and path. (A run may not call the Baton
// server itself: its own listen address is refused by the egress policy.)
function startEcho() {
  const srv = createServer((req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify(req.url === "/healthz" ? { status: "ok" } : { method: req.method, path: req.url }));
  });
  return new Promise((resolve) => {
    srv.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${srv.address().port}`, stop: () => new Promise((r) => { srv.close(r); srv.closeAllConnections(); }) });
    });
  });
}
