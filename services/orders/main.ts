import { runService } from "../../mesh";
import { orders } from "./compose";

runService("orders", orders);
