import { runService } from "../../mesh";
import { payments } from "./compose";

runService("payments", payments);
