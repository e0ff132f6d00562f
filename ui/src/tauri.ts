// The desktop transport: Tauri IPC commands (src-tauri/src/main.rs), status events, and the asset
// protocol for thumbnails and originals (scoped to the thumbnail cache and the added folders).

import { convertFileSrc, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { open } from "@tauri-apps/plugin-dialog";
import type { AppStatus, Hit, Operation, Operations, PhotoDetails, UploadedImage } from "./bindings";
import { STATUS_EVENT } from "./bindings";
import type { Transport } from "./client";

export class TauriTransport implements Transport {
  readonly desktop = true;

  /** Every operation goes through the app's one `rpc` command (src-tauri/src/main.rs). */
  call<O extends Operation>(operation: O, request: Operations[O][0]): Promise<Operations[O][1]> {
    return invoke("rpc", { op: operation, request });
  }

  async uploadImage(image: Blob, label: string): Promise<UploadedImage> {
    const bytes = new Uint8Array(await image.arrayBuffer());
    return invoke("upload_image", bytes, { headers: { "x-label": encodeURIComponent(label) } });
  }

  imageFromPath(path: string): Promise<UploadedImage> {
    return invoke("image_from_path", { path });
  }

  thumbnailUrl(hit: Pick<Hit, "id" | "thumbnail">): string {
    return hit.thumbnail ? convertFileSrc(hit.thumbnail) : "";
  }

  originalUrl(photo: Pick<PhotoDetails, "id" | "path">): string {
    return convertFileSrc(photo.path);
  }

  subscribe(onStatus: (status: AppStatus) => void): () => void {
    let stop: (() => void) | null = null;
    let stopped = false;
    void listen<AppStatus>(STATUS_EVENT, (event) => onStatus(event.payload)).then((unlisten) => {
      if (stopped) unlisten();
      else stop = unlisten;
    });
    void this.call("status", null).then(onStatus, () => undefined);
    return () => {
      stopped = true;
      stop?.();
    };
  }

  async pickFolder(): Promise<string | null> {
    const chosen = await open({ directory: true, multiple: false, title: "Add a photo folder" });
    return typeof chosen === "string" ? chosen : null;
  }

  openPhoto(id: number): Promise<void> {
    return invoke("open_photo", { id });
  }

  revealPhoto(id: number): Promise<void> {
    return invoke("reveal_photo", { id });
  }
}
