import { status } from "@grpc/grpc-js";
import { NotificationKind } from "../../gen/shop/notifications/v1/notifications";
import {
  newId,
  openStore,
  silentLogger,
  StatusError,
  type CallContext,
  type Store,
} from "../../mesh";
import { migrations } from "./migrations";
import { createNotificationsService } from "./service";
import { createNotificationsStore, type NotificationsStore } from "./store";

// Handlers called directly on an in-memory store; the context is unused by this service.
const ctx = {} as CallContext;
const AT = new Date("2026-01-02T03:04:05Z");

describe("notifications service", () => {
  let db: Store;
  let store: NotificationsStore;
  let service: ReturnType<typeof createNotificationsService>;
  let sequence = 0;

  beforeEach(async () => {
    db = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    store = createNotificationsStore(db);
    service = createNotificationsService({ store });
  });
  afterEach(() => db.close());

  /** Records a notification for the user, as the consumer would; resolves to its id. */
  const notify = async (userId: string): Promise<string> => {
    sequence++;
    const notificationId = newId("ntf");
    await store.record(
      {
        sequence,
        notification: {
          notificationId,
          userId,
          orderId: `ord_${sequence}`,
          kind: NotificationKind.NOTIFICATION_KIND_ORDER_REJECTED,
          title: "Your order was not accepted",
          body: `Order ord_${sequence} was not accepted: card declined.`,
          eventId: `evt_${sequence}`,
          createTime: AT,
        },
      },
      AT.getTime(),
    );
    return notificationId;
  };

  const failure = async (promise: Promise<unknown>): Promise<StatusError> => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StatusError);
    return err as StatusError;
  };

  it("lists a user's notifications newest first, and only theirs", async () => {
    const first = await notify("usr_ada");
    await notify("usr_bob");
    const second = await notify("usr_ada");

    const { notifications, nextPageToken } = await service.listNotifications(
      { userId: "usr_ada", pageSize: 0, pageToken: "" },
      ctx,
    );

    expect(notifications.map((n) => n.notificationId)).toEqual([second, first]);
    expect(notifications[1]).toEqual({
      notificationId: first,
      userId: "usr_ada",
      orderId: "ord_1",
      kind: NotificationKind.NOTIFICATION_KIND_ORDER_REJECTED,
      title: "Your order was not accepted",
      body: "Order ord_1 was not accepted: card declined.",
      eventId: "evt_1",
      createTime: AT,
    });
    expect(nextPageToken).toBe("");
  });

  it("answers an empty list for a user with no notifications", async () => {
    await notify("usr_ada");

    const page = await service.listNotifications(
      { userId: "usr_nobody", pageSize: 0, pageToken: "" },
      ctx,
    );

    expect(page).toEqual({ notifications: [], nextPageToken: "" });
  });

  it("pages through a user's notifications with the token until the last page", async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push(await notify("usr_ada"));

    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await service.listNotifications(
        { userId: "usr_ada", pageSize: 2, pageToken },
        ctx,
      );
      seen.push(...page.notifications.map((n) => n.notificationId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");

    expect(pages).toBe(3);
    expect(seen).toEqual(made.reverse());
  });

  it("refuses a page token issued for another user", async () => {
    await notify("usr_ada");
    await notify("usr_ada");
    const { nextPageToken } = await service.listNotifications(
      { userId: "usr_ada", pageSize: 1, pageToken: "" },
      ctx,
    );

    const err = await failure(
      service.listNotifications({ userId: "usr_bob", pageSize: 1, pageToken: nextPageToken }, ctx),
    );

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.message).toBe("page_token: was issued for a request with other filters");
  });

  it("names the field of a missing or too long user_id", async () => {
    const missing = await failure(
      service.listNotifications({ userId: "", pageSize: 0, pageToken: "" }, ctx),
    );
    const long = await failure(
      service.listNotifications({ userId: "u".repeat(65), pageSize: 0, pageToken: "" }, ctx),
    );

    expect(missing.code).toBe(status.INVALID_ARGUMENT);
    expect(missing.message).toBe("user_id: is required");
    expect(long.message).toBe("user_id: must be at most 64 characters");
  });

  it("refuses page sizes out of range and tokens it did not issue, naming the field", async () => {
    const list = (pageSize: number, pageToken = "") =>
      failure(service.listNotifications({ userId: "usr_ada", pageSize, pageToken }, ctx));

    expect((await list(1001)).message).toBe("page_size: must be an integer from 0 to 1000");
    expect((await list(-1)).message).toMatch(/^page_size:/);
    expect((await list(0, "%%%")).message).toBe("page_token: is not a token this method returned");
  });

  it("names every invalid field at once", async () => {
    const err = await failure(
      service.listNotifications({ userId: "", pageSize: 5000, pageToken: "" }, ctx),
    );

    expect(err.fieldViolations.map((f) => f.field)).toEqual(["user_id", "page_size"]);
  });
});
