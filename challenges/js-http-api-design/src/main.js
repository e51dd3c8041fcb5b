// Starts the API for manual testing:  node src/main.js   (or PORT=8080 node src/main.js)
//   curl -i localhost:3000/bookmarks
import { createServer } from './server.js';

const port = Number(process.env.PORT ?? 3000);
const server = createServer();
server.listen(port, () => {
  console.log(`Bookmarks API listening on http://localhost:${port}`);
});
