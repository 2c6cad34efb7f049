#include "app/demo_content.h"

#include <string>

namespace flashwire::app {

std::vector<store::Article> demo_articles(std::int64_t now) {
  using store::Category;
  struct Demo {
    const char* slug;
    Category category;
    const char* headline;
    const char* standfirst;
    const char* byline;
    const char* dateline;
    const char* body;
    int hours_ago;
    const char* image;      // drawn for this demo: web/assets/demo/
    const char* image_alt;  // what the drawing shows
  };
  // Fictional stories about a fictional city, written for this demo.
  static const Demo kDemos[] = {
      {"harbour-bridge-closed-after-ship-strike", Category::kBreaking,
       "Harbour bridge closed after cargo ship strikes support pier",
       "Engineers are inspecting the 1960s crossing; commuters are told to expect closures into "
       "next week.",
       "By Mara Okafor", "PORT ELLIN",
       "The Harbour Bridge was closed in both directions on Tuesday morning after a cargo ship "
       "drifted "
       "into one of its main support piers during a storm.\n\n"
       "No one was injured, the port authority said. The ship, carrying timber, lost engine power "
       "shortly after leaving the eastern basin.\n\n"
       "## What we know\n\n"
       "- The collision happened at 06:40, before the morning rush.\n"
       "- Divers found **scraping but no cracks** on the pier's upper section.\n"
       "- Ferries are running extra crossings every 15 minutes.\n\n"
       "City engineers said a full inspection of the pier below the waterline would take at least "
       "three days. \"We will not reopen the bridge until we can see every metre of that pier,\" "
       "said "
       "chief engineer Tomas Reyes.\n",
       1, "/assets/demo/bridge.svg",
       "Drawing: a cargo ship pressed against a pier of a long road bridge over grey water"},
      {"election-night-live-results", Category::kLive,
       "Election night: live results from all 42 districts",
       "Polls have closed. Follow the count district by district, with analysis from our politics "
       "desk.",
       "By the politics desk", "PORT ELLIN",
       "Polls closed at 22:00 and counting has begun in all 42 districts.\n\n"
       "| District group | Counted | Turnout |\n|---|---:|---:|\n| North | 12 of 14 | 61% |\n"
       "| Harbour | 9 of 15 | 58% |\n| Hills | 4 of 13 | 66% |\n\n"
       "Our reporters are at the three counting halls. Turn on **live event** alerts to hear the "
       "moment a district declares.\n",
       2, "/assets/demo/election.svg",
       "Drawing: a ballot paper dropping into a box marked VOTE beside a bar chart"},
      {"hospital-waiting-lists-internal-report", Category::kExclusive,
       "Internal report shows waiting lists were understated for two years",
       "A document seen by Flashwire shows the regional health board counted only first "
       "appointments.",
       "By Ines Varga", "PORT ELLIN",
       "An internal review commissioned by the regional health board found that published waiting "
       "times left out every patient waiting for a second or follow-up appointment.\n\n"
       "The 38-page report, dated March and seen by Flashwire, estimates the real median wait for "
       "a "
       "specialist at **19 weeks**, against the 11 weeks the board has reported.\n\n"
       "> \"The published figure answers a question nobody asked,\" one of the report's authors "
       "wrote.\n\n"
       "The board said it would publish a corrected series next month.\n",
       5, "/assets/demo/report.svg",
       "Drawing: a report with two diverging lines on a chart, under a magnifying glass"},
      {"storm-warning-raised-to-red", Category::kBreaking,
       "Storm warning raised to red for the coast",
       "Gusts of up to 120 km/h are expected overnight; schools on the coast will stay closed "
       "tomorrow.",
       "By Jonas Berg", "PORT ELLIN",
       "The weather service raised its storm warning to red, its highest level, for the whole "
       "coastal "
       "strip from 18:00.\n\n"
       "Residents are asked to stay indoors, secure loose objects and avoid the seafront. Rail "
       "services "
       "along the coast will stop at 20:00.\n",
       7, "/assets/demo/storm.svg",
       "Drawing: dark clouds, rain and lightning over high waves, a red warning flag on the shore"},
      {"marathon-live-updates", Category::kLive, "City marathon: live updates from the course",
       "Twelve thousand runners set off at dawn. Road closures, results and the finish line as it "
       "happens.",
       "By Leo Haas", "PORT ELLIN",
       "The elite field set off at 07:30 under clear skies, with 12,000 runners behind them.\n\n"
       "Roads along the river will stay closed until 15:00. Trams on lines 2 and 5 are diverted.\n",
       9, "/assets/demo/marathon.svg",
       "Drawing: two runners on a road approaching a red FINISH banner"},
      {"council-contracts-same-supplier", Category::kExclusive,
       "Council awarded 14 contracts to one supplier without tender",
       "Records obtained by Flashwire show the contracts were split to stay under the tender "
       "threshold.",
       "By Ines Varga and Mara Okafor", "PORT ELLIN",
       "Fourteen maintenance contracts worth a combined 2.1 million were awarded to the same "
       "company over "
       "eighteen months, each one just below the value that requires a public tender.\n\n"
       "The council said every award followed its procurement rules. Two councillors have asked "
       "for an "
       "independent audit.\n",
       26, "/assets/demo/council.svg",
       "Drawing: a columned council building beside a stack of papers labelled 14 × CONTRACT"},
  };
  std::vector<store::Article> articles;
  for (const Demo& demo : kDemos) {
    store::Article article;
    article.slug = demo.slug;
    article.category = demo.category;
    article.headline = demo.headline;
    article.standfirst = demo.standfirst;
    article.byline = demo.byline;
    article.dateline = demo.dateline;
    article.body_markdown = demo.body;
    article.image_url = demo.image;
    article.image_alt = demo.image_alt;
    // "/assets/demo/storm.svg" → "/assets/demo/storm-480.webp", …
    const std::string stem = article.image_url.substr(0, article.image_url.rfind('.'));
    for (const int width : kDemoImageWidths) {
      article.image_renditions.push_back({stem + "-" + std::to_string(width) + ".webp", width});
    }
    article.published = true;
    article.published_at = now - demo.hours_ago * 3600;
    article.updated_at = article.published_at;
    articles.push_back(std::move(article));
  }
  return articles;
}

}  // namespace flashwire::app
