import { Link } from "react-router";

export function NotFoundRoute() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link to="/">Back to the quickstart</Link>.
      </p>
    </section>
  );
}
