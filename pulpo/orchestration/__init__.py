"""From the analysed graph to Prefect flows: grouping, code generation, writing."""
