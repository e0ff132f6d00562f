import { describe, expect, it } from "vitest";
import type { AppStatus, Operation, UploadedImage } from "./bindings";
import { ROUTES } from "./bindings";
import { Client, ClientError, HttpTransport, routePath, type Transport } from "./client";

type Call = { url: string; method: string; headers: Record<string, string>; body: unknown };

function fakeFetch(respond: (call: Call) => { status: number; body: unknown }) {
  const calls: Call[] = [];
  const impl = (async (url: RequestInfo | URL, init?: RequestInit) => {
    const call = {
      url: String(url),
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: init?.body,
    };
    calls.push(call);
    const { status, body } = respond(call);
    return new Response(body === undefined ? "" : JSON.stringify(body), { status });
  }) as typeof fetch;
  return { calls, impl };
}

describe("HttpTransport", () => {
  it("posts a search as JSON and returns the typed response", async () => {
    const f = fakeFetch(() => ({ status: 200, body: { hits: [{ id: 3, path: "/p/a.jpg", score: 0.5, taken_at: null, thumbnail: null }], took_ms: 4 } }));
    const client = new Client(new HttpTransport("http://h", null, f.impl));
    const request = {
      terms: [{ kind: "text" as const, text: "red", weight: 1 }],
      filters: { folder: null, from: null, to: null, formats: [], place: null },
      limit: 10,
      offset: 0,
      literal: false,
      collapse: false,
    };
    const response = await client.search(request);
    expect(response.hits[0].id).toBe(3);
    expect(f.calls[0]).toMatchObject({ url: "http://h/api/search", method: "POST" });
    expect(f.calls[0].headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(f.calls[0].body as string)).toEqual(request);
  });

  it("reaches every operation at its generated route, the request as the body or in the path", async () => {
    const f = fakeFetch(() => ({ status: 200, body: null }));
    const transport = new HttpTransport("", null, f.impl);
    const operations = Object.keys(ROUTES) as Operation[];
    expect(operations.length).toBeGreaterThanOrEqual(17);
    for (const operation of operations) {
      const route = ROUTES[operation];
      const request = route.path.includes("{id}") ? { id: 12 } : route.method === "POST" ? { sample: operation } : null;
      await transport.call(operation, request as never);
      const call = f.calls.at(-1);
      if (!call) throw new Error(`${operation} sent nothing`);
      expect(`${call.method} ${call.url}`).toBe(`${route.method} ${route.path.replace("{id}", "12")}`);
      if (route.method === "POST") expect(JSON.parse(call.body as string)).toEqual(request);
      else expect(call.body).toBeUndefined();
    }
    // Operations without a request send no body at all.
    await transport.call("pause", null);
    expect(f.calls.at(-1)).toMatchObject({ method: "POST", url: "/api/indexing/pause", body: undefined });
  });

  it("the client's methods send the requests their operations declare", async () => {
    const f = fakeFetch(() => ({ status: 200, body: [] }));
    const client = new Client(new HttpTransport("", null, f.impl));
    await client.photo(12);
    await client.addFolder("/photos");
    await client.updateSettings({ excludes: ["raw"] });
    await client.exportPhotos([1, 2], "/out");
    expect(f.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["GET /api/photos/12", "POST /api/folders/add", "POST /api/settings", "POST /api/export"]);
    expect(JSON.parse(f.calls[1].body as string)).toEqual({ path: "/photos" });
    expect(JSON.parse(f.calls[2].body as string)).toEqual({
      excludes: ["raw"],
      saved_searches: null,
      model: null,
      query_encoder: null,
      model_dir: null,
      threads: null,
      workers: null,
    });
    expect(JSON.parse(f.calls[3].body as string)).toEqual({ ids: [1, 2], folder: "/out" });
  });

  it("refuses a path field the request lacks", () => {
    expect(() => routePath("photo", {})).toThrow(ClientError);
  });

  it("sends the token as a header, and in URLs that cannot carry headers", async () => {
    const f = fakeFetch(() => ({ status: 200, body: null }));
    const transport = new HttpTransport("", "s3cret", f.impl);
    await new Client(transport).rescan();
    expect(f.calls[0].headers.Authorization).toBe("Bearer s3cret");
    expect(transport.thumbnailUrl({ id: 5 })).toBe("/api/photos/5/thumbnail?token=s3cret");
    expect(transport.originalUrl({ id: 5 })).toBe("/api/photos/5/original?token=s3cret");
  });

  it("turns API errors into ClientErrors with their kind", async () => {
    const f = fakeFetch(() => ({ status: 503, body: { kind: "model_missing", message: "no model" } }));
    const error = await new Client(new HttpTransport("", null, f.impl)).status().catch((e) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ kind: "model_missing", message: "no model" });
  });

  it("reports an unreachable server as a network error", async () => {
    const failing = (async () => {
      throw new TypeError("connection refused");
    }) as typeof fetch;
    const error = await new Client(new HttpTransport("", null, failing)).folders().catch((e) => e);
    expect(error).toMatchObject({ kind: "network" });
  });

  it("uploads an image as the raw body with its type and label", async () => {
    const f = fakeFetch(() => ({ status: 200, body: { token: "t", label: "cat.png" } }));
    const uploaded = await new Client(new HttpTransport("", null, f.impl)).uploadImage(new Blob([new Uint8Array([1, 2])], { type: "image/png" }), "cat.png");
    expect(uploaded.token).toBe("t");
    expect(f.calls[0].url).toBe("/api/images?label=cat.png");
    expect(f.calls[0].headers["Content-Type"]).toBe("image/png");
  });
});

describe("Client over another transport", () => {
  it("passes commands through and normalises thrown API errors", async () => {
    const seen: string[] = [];
    const transport: Transport = {
      desktop: true,
      async call(command, args) {
        seen.push(`${command} ${JSON.stringify(args)}`);
        if (command === "photo") throw { kind: "not_found", message: "photo 9 is not in the library" };
        return [] as never;
      },
      uploadImage: async () => ({ token: "x", label: "x" }) as UploadedImage,
      thumbnailUrl: (hit) => `asset://${hit.thumbnail}`,
      originalUrl: (p) => `asset://${p.path}`,
      subscribe: (on: (s: AppStatus) => void) => () => void on,
    };
    const client = new Client(transport);
    await client.removeFolder("/a");
    await expect(client.photo(9)).rejects.toMatchObject({ kind: "not_found" });
    await expect(client.imageFromPath("/x.jpg")).rejects.toMatchObject({ kind: "bad_request" });
    expect(seen).toEqual(['remove_folder {"path":"/a"}', 'photo {"id":9}']);
    expect(client.thumbnailUrl({ id: 1, thumbnail: "/t/ab.jpg" })).toBe("asset:///t/ab.jpg");
  });
});
