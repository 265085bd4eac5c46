"""Reports: verdict + history in, console summary, results.json, junit.xml, report.html out."""
