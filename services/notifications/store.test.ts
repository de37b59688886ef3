import { NotificationKind, type Notification } from "../../gen/shop/notifications/v1/notifications";
import { openStore, silentLogger, type Store } from "../../mesh";
import { describeEachBackend } from "../../test/backends";
import { migrations } from "./migrations";
import { createNotificationsStore, type NotificationsStore } from "./store";

const AT = new Date("2026-01-02T03:04:05Z");

const notification = (id: string, eventId: string, userId = "usr_1"): Notification => ({
  notificationId: id,
  userId,
  orderId: "ord_1",
  kind: NotificationKind.NOTIFICATION_KIND_ORDER_CONFIRMED,
  title: "Your order is confirmed",
  body: "Order ord_1 is confirmed: 1 item, 9.50 USD charged. Thank you!",
  eventId,
  createTime: AT,
});

describeEachBackend("notifications store", (backend) => {
  let db: Store;
  let store: NotificationsStore;

  beforeEach(async () => {
    db = await openStore({
      file: backend.freshStore("notifications"),
      migrations,
      durability: "full",
      log: silentLogger(),
    });
    store = createNotificationsStore(db);
  });
  afterEach(() => db.close());

  it("stores a notification and moves the cursor in the same call", async () => {
    expect(await store.cursor()).toBe(0);

    const inserted = await store.record(
      { sequence: 1, notification: notification("ntf_A", "evt_1") },
      AT.getTime(),
    );

    expect(inserted).toBe(true);
    expect(await store.cursor()).toBe(1);
    expect(await store.list("usr_1", 10, undefined)).toEqual([notification("ntf_A", "evt_1")]);
  });

  it("inserts one notification per event, however often the event is recorded", async () => {
    await store.record({ sequence: 1, notification: notification("ntf_A", "evt_1") }, 1);

    const again = await store.record(
      { sequence: 1, notification: notification("ntf_B", "evt_1") },
      2,
    );

    expect(again).toBe(false);
    const stored = await store.list("usr_1", 10, undefined);
    expect(stored.map((n) => n.notificationId)).toEqual(["ntf_A"]);
  });

  it("never moves the cursor back when an older event is recorded again", async () => {
    await store.record({ sequence: 5, notification: notification("ntf_E", "evt_5") }, 1);

    await store.record({ sequence: 2, notification: notification("ntf_X", "evt_2") }, 2);

    expect(await store.cursor()).toBe(5);
    expect(await db.db("consumer_cursor").select()).toEqual([
      { stream: "orders", last_sequence: 5, update_time: 2 },
    ]);
  });

  it("moves the cursor past an event that makes no notification", async () => {
    await store.record({ sequence: 3 }, 1);

    expect(await store.cursor()).toBe(3);
    expect(await db.db("notifications").count({ n: "*" })).toEqual([{ n: 0 }]);
  });

  it("lists one user's notifications newest first, before a given id", async () => {
    for (const [id, user] of [
      ["ntf_1", "usr_1"],
      ["ntf_2", "usr_2"],
      ["ntf_3", "usr_1"],
      ["ntf_4", "usr_1"],
    ]) {
      await store.record(
        { sequence: Number(id.slice(4)), notification: notification(id, `evt_${id}`, user) },
        1,
      );
    }

    const ids = async (before?: string): Promise<string[]> =>
      (await store.list("usr_1", 10, before)).map((n) => n.notificationId);

    expect(await ids()).toEqual(["ntf_4", "ntf_3", "ntf_1"]);
    expect(await ids("ntf_3")).toEqual(["ntf_1"]);
  });
});
