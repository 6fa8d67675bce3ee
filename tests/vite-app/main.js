// What an app does with the installed package: index two documents in the page with the
// default models the package ships, search, and list the results.
import { createRag } from "wasmrag";

const status = document.getElementById("status");
try {
  const rag = await createRag({
    documents: [
      { url: "/lighthouse.md", text: "# The lighthouse\n\nThe Brightwater Lighthouse was built in 1874 on the northern cliffs of Carrow Bay." },
      { url: "/bread.md", text: "# Sourdough\n\nSourdough bread is leavened by a starter of wild yeast and lactic acid bacteria." },
    ],
  });
  const hits = await rag.search("When was the lighthouse built?", { k: 2 });
  for (const hit of hits) {
    const li = document.createElement("li");
    li.textContent = `${hit.url} ${hit.retrieval}`;
    document.getElementById("results").append(li);
  }
  status.textContent = "done";
} catch (err) {
  status.textContent = `error: ${err.code ?? ""} ${err.message}`;
}
