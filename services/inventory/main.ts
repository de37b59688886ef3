import { runService } from "../../mesh";
import { inventory } from "./compose";

runService("inventory", inventory);
