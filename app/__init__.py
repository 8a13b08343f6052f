"""The cbqa Streamlit app: UI only; every computation calls cbqa, ner_masking or retrieval_baseline.

Start it with `cbqa app --runs DIR` (see docs/app.md).
"""
