/*
 * bench_node.c - the single-node benchmark (run by scripts/bench).
 *
 * Prints, measured in one run (DESIGN.md, "How it is measured"):
 *   1. the raw Ed25519 verify rate of this machine on one core (and on every
 *      core), over messages of about 300 bytes;
 *   2. the rate of `stoa import` on a bundle of BENCH_RECORDS realistic
 *      org/actor/practice records signed by a home's editor key, imported
 *      into a second home of the same federation, and its ratio to (1); also
 *      the rate of store_ingest alone on the same bundle (no verification),
 *      which bounds what the import can reach;
 *   3. store_search latency over BENCH_ENTRIES generated entries (median,
 *      p99, by kind of query) and the wall time of a whole `stoa search`;
 *   4. store size on disk per entry against the average record size.
 * Beside wall-clock rates it prints CPU time per record, which holds when
 * the machine is shared (the load average is printed too), the bound that
 * CPU cost puts on the import's ratio, and the bytes LMDB writes per record.
 *
 * Usage:  bench_node all --stoa PATH --dir DIR [options]
 *         bench_node verify [--seconds S]
 *         bench_node ingest STORE_DIR BUNDLE  (the store's share alone, to profile)
 * Options (and environment): --records N (BENCH_RECORDS, 200000),
 * --entries N (BENCH_ENTRIES, 1000000), --queries N (BENCH_QUERIES, 200),
 * --seconds S (BENCH_VERIFY_SECONDS, 2), --seed N (BENCH_SEED, 1),
 * --skip-import, --skip-search, --build-verify (BENCH_BUILD_VERIFY=1: check
 * every signature while building the search store; by default the build
 * signs but does not verify, since its records are made right here).
 *
 * Content is drawn from a deterministic generator: organisation names in
 * English, French, Spanish, German and Arabic with accents, cities and
 * countries, 1-4 themes, descriptions of 100-600 characters from a
 * vocabulary of a few thousand words with a Zipf distribution, and a long
 * tail of generated proper names, so that some words are very rare.
 * A timing is never a pass/fail: this program reports figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <sodium.h>

#include "proto/bundle.h"
#include "proto/charter.h"
#include "proto/err.h"
#include "proto/record.h"
#include "proto/schema.h"
#include "proto/wire.h"
#include "proto/zip.h"
#include "store/store.h"

#include <zdict.h>
#include <zstd.h>

#define BATCH 4096

/* ---- small helpers ------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_node: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The machine is often shared: the load average says how much to trust a
 * wall-clock figure, and CPU-time figures are printed beside them. */
static void print_load(const char *when) {
  char b[128] = "";
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return;
  if (fgets(b, sizeof b, f)) {
    char *sp = strchr(b, ' ');
    if (sp && (sp = strchr(sp + 1, ' ')) && (sp = strchr(sp + 1, ' '))) *sp = 0;
    printf("  (load average %s: %s)\n", when, b);
  }
  fclose(f);
}

/* Bytes this process wrote: passed to write calls (LMDB's page writes) and
 * sent to the device by the kernel, which may write more than it was given
 * (a dirty 4 KB page in a large folio).  Linux /proc/self/io; zeros where it
 * is missing. */
typedef struct iost { uint64_t wchar, dev; } iost;

static iost io_now(void) {
  char line[128];
  iost v = { 0, 0 };
  FILE *f = fopen("/proc/self/io", "r");
  if (!f) return v;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "wchar: ", 7)) v.wchar = strtoull(line + 7, NULL, 10);
    if (!strncmp(line, "write_bytes: ", 13)) v.dev = strtoull(line + 13, NULL, 10);
  }
  fclose(f);
  return v;
}

static iost io_since(iost a) {
  iost b = io_now();
  return (iost){ b.wchar - a.wchar, b.dev - a.dev };
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory (%zu bytes)", n);
  return p;
}

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) die("out of memory");
  return p;
}

/* xoshiro256** seeded through splitmix64: deterministic content. */
typedef struct rng { uint64_t s[4]; } rng;

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) {
  uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return res;
}

/* Uniform in [0, n). */
static size_t rng_below(rng *r, size_t n) { return n ? (size_t)(rng_next(r) % n) : 0; }
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) / 9007199254740992.0; }
static bool rng_chance(rng *r, double p) { return rng_unit(r) < p; }
static void rng_bytes(rng *r, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng_next(r);
    for (size_t j = 0; j < 8 && i + j < n; j++) out[i + j] = (uint8_t)(v >> (8 * j));
  }
}

/* Number of UTF-8 code points. */
static size_t u8len(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += ((uint8_t)s[i] & 0xc0) != 0x80;
  return c;
}

/* A growable string. */
typedef struct sbuf { char *p; size_t len, cap; } sbuf;

static void sb_reset(sbuf *b) { b->len = 0; if (b->p) b->p[0] = 0; }
static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 1024;
    while (nc < b->len + n + 1) nc *= 2;
    char *p = realloc(b->p, nc);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = nc;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...) {
  char t[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t, sizeof t, fmt, ap);
  va_end(ap);
  if (n > 0) sb_add(b, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

/* ---- vocabulary ------------------------------------------------------------ */

/*
 * Words per language, most frequent first (function words, then the field's
 * words).  Descriptions draw from them with a Zipf law (s = 1).  Kept as
 * chunks of text, each under the 4095 bytes ISO C promises for a literal.
 */
static const char *const words_en[] = {
  "the of and to in for with on by from as at is are was were be this that which who "
  "their its our has have more than also into about through between among over under "
  "across within without against during after before while where when new all other "
  "such each both most many not can will may only very well",
  "migrant migrants migration workers worker rights labour domestic women children youth "
  "families family community communities support services legal advice assistance "
  "refugees refugee asylum seekers diaspora remittances health education training "
  "employment jobs recruitment fair ethical agencies agency employers employer union "
  "unions network networks organisation association foundation centre council alliance "
  "coalition federation institute committee programme project projects initiative "
  "initiatives research data policy policies government governments local national "
  "regional international global return reintegration integration inclusion "
  "discrimination racism xenophobia trafficking exploitation forced abuse violence "
  "gender equality climate displacement environmental disaster resilience advocacy "
  "campaign awareness dialogue cooperation partnership partners civil society citizens "
  "citizenship residence permit visa status undocumented irregular regular pathways "
  "safe orderly dignity human protection social security pension wages wage payment "
  "contracts contract debt fees costs transfer transfers money financial literacy "
  "banking savings investment development entrepreneurs business small enterprises "
  "skills recognition qualifications language courses housing shelter food medical care "
  "nurses doctors hospitals clinics mental psychosocial counselling hotline helpline "
  "information outreach volunteers volunteer staff members member board annual report "
  "evaluation study survey findings evidence lessons learned practice practices good "
  "worked failed challenges barriers access justice courts lawyers cases complaints "
  "mediation grievance monitoring inspection compliance standards convention "
  "conventions ratification law laws reform bill parliament ministry embassy consulate "
  "consular officers border borders mobility circular seasonal agriculture construction "
  "fishing caregivers hospitality factory factories garment textile mining transport "
  "drivers seafarers students scholarships universities schools teachers",
  "provides offers helps works runs organises promotes defends represents trains "
  "connects brings together documents collects publishes monitors supports "
  "strengthens builds improves reduces prevents protects empowers mobilises informs "
  "assists accompanies welcomes hosts coordinates facilitates funds finances lobbies "
  "negotiates partners engages listens responds refers translates interprets "
  "since founded based active present operating working located across throughout "
  "city cities town towns rural urban province provinces district districts region "
  "regions country countries continent africa asia europe americas arab gulf "
  "mediterranean sahel caribbean pacific southern northern eastern western central "
  "west east north south first second third year years month months week weeks day "
  "days people persons person men boys girls mothers fathers elderly disabilities "
  "disabled victims survivors survivor returnees returnee migrants' workers' women's "
  "children's host origin destination transit home abroad overseas departure arrival "
  "pre-departure post-arrival orientation reception emergency crisis crises conflict "
  "peace war pandemic covid recovery livelihoods income poverty inequality decent work "
  "employment-based informal economy sector sectors private public open free low high "
  "skilled low-skilled highly semi-skilled professional professionals workers-led "
  "grassroots community-based faith-based women-led youth-led led owned managed",
  "key important main major critical essential effective successful innovative "
  "sustainable long-term short-term pilot scale scaled replicated replicable model "
  "models approach approaches method methods tool tools toolkit guide guidelines "
  "manual handbook curriculum modules module session sessions workshop workshops "
  "seminar seminars conference conferences forum forums meeting meetings platform "
  "platforms website app mobile online digital radio television media journalists "
  "press stories testimonies voices campaigns petitions marches demonstrations "
  "strikes collective bargaining agreement agreements bilateral multilateral "
  "memorandum understanding framework frameworks compact strategy strategies action "
  "plan plans budget budgets resources capacity capacities building institutional "
  "memory knowledge sharing exchange exchanges learning peer mentoring coaching "
  "leadership participation representation voice democratic processes transparent "
  "transparency accountability governance coherence consultation consultations "
  "stakeholders experts academics researchers universities think tanks trade "
  "chambers commerce employers' associations recruiters brokers intermediaries "
  "licensing licensed unlicensed registration registered certification certified "
  "accreditation complaints mechanism mechanisms redress remedy remedies compensation "
  "restitution repatriation deportation detention alternatives removal expulsion "
  "regularisation amnesty naturalisation statelessness stateless birth registration "
  "identity documents passports passport confiscation wage theft withholding "
  "overtime rest holidays leave maternity sick injury accident accidents deaths "
  "heat stress occupational safety risks risk vulnerable vulnerability situations",
  "remittance corridors cost reduction mobile money digital wallets fintech microfinance "
  "cooperatives cooperative credit loans diaspora bonds philanthropy hometown "
  "associations homeland ties transnational second-generation heritage culture "
  "cultural identity religion religious mosques churches temples interfaith "
  "solidarity hospitality welcome welcoming sanctuary cities municipalities mayors "
  "councils neighbourhood neighbourhoods schools kindergartens language classes "
  "literacy numeracy vocational apprenticeships internships mentorship job matching "
  "placement career guidance diploma diplomas degree degrees validation prior "
  "brain drain gain circulation health-workforce nurses' midwives caregivers' elder "
  "long-term-care childcare au pair au-pairs live-in live-out employers' homes "
  "kafala sponsorship system reform abolition ratified ilo c189 c190 c97 c143 "
  "gcm gfmd sdg sdgs agenda review progress indicators targets baseline statistics "
  "census household surveys administrative registers big estimates flows stocks "
  "trends analysis mapping maps atlas database databases directory directories "
  "catalogue inventory archive archives library open-data dataset datasets",
};

static const char *const words_fr[] = {
  "le la les de des du un une et en à au aux pour par sur dans avec sans sous entre "
  "vers chez contre depuis pendant après avant leur leurs son sa ses notre nos qui que "
  "dont où est sont été être a ont plus aussi ainsi très tous toutes tout cette ce ces",
  "travailleurs travailleuses migrants migrantes migration migrations droits droit "
  "femmes enfants jeunes familles famille communauté communautés soutien services "
  "juridique conseil accompagnement réfugiés réfugiées demandeurs asile diaspora "
  "transferts santé éducation formation emploi recrutement équitable éthique agences "
  "employeurs syndicat syndicats réseau réseaux organisation association fondation "
  "centre conseil alliance coalition fédération institut comité programme projet "
  "projets initiative recherche données politique politiques gouvernement local "
  "national régional international mondial retour réintégration intégration "
  "inclusion discrimination racisme xénophobie traite exploitation travail forcé "
  "violence violences genre égalité climat déplacement environnement catastrophe "
  "plaidoyer campagne sensibilisation dialogue coopération partenariat partenaires "
  "société civile citoyens citoyenneté séjour titre visa statut sans-papiers "
  "irrégulière régularisation voies sûres dignité humaine protection sociale sécurité "
  "retraite salaires salaire paiement contrats contrat dette frais coûts argent "
  "financière épargne investissement développement entrepreneurs entreprises petites "
  "compétences reconnaissance qualifications langue cours logement hébergement "
  "alimentation soins médicaux infirmières médecins hôpitaux santé mentale écoute "
  "permanence information bénévoles bénévolat salariés membres adhérents bureau "
  "rapport annuel évaluation étude enquête résultats preuves leçons pratiques bonnes "
  "réussites échecs défis obstacles accès justice tribunaux avocats dossiers plaintes "
  "médiation suivi inspection normes convention conventions ratification loi lois "
  "réforme parlement ministère ambassade consulat frontière frontières mobilité "
  "circulaire saisonniers agriculture bâtiment pêche aidantes hôtellerie usine "
  "confection transport chauffeurs marins étudiants bourses universités écoles",
  "propose offre aide accompagne organise promeut défend représente forme relie "
  "rassemble documente recueille publie surveille renforce construit améliore réduit "
  "prévient protège informe accueille héberge coordonne facilite finance négocie "
  "écoute oriente traduit interprète fondée créée basée active présente implantée "
  "ville villes quartier quartiers rurale urbaine province département région régions "
  "pays continent afrique asie europe amériques maghreb sahel ouest est nord sud "
  "première année années mois semaine jours personnes hommes garçons filles mères "
  "pères âgées handicap victimes survivantes rapatriés origine destination transit "
  "étranger étrangers étrangères départ arrivée orientation accueil urgence crise "
  "crises conflit paix guerre pandémie relance revenus pauvreté inégalités décent "
  "économie informelle secteur secteurs privé public ouvert gratuit qualifiés "
  "professionnels communautaire confessionnelle féministe menée gérée portée "
  "principal principaux essentiel efficace réussie innovante durable pilote modèle "
  "approche méthode outils guide manuel module ateliers séminaire colloque forum "
  "réunion plateforme site application numérique radio médias journalistes presse "
  "témoignages voix pétition marche manifestation grève négociation collective "
  "accord accords bilatéral cadre stratégie plan budget ressources capacités "
  "mémoire institutionnelle connaissances partage échange échanges apprentissage "
  "pairs parrainage participation représentation démocratique transparence "
  "gouvernance cohérence concertation acteurs experts chercheurs enregistrement "
  "agrément recours réparation indemnisation expulsion rétention éloignement "
  "naturalisation apatridie état-civil papiers passeport confiscation heures "
  "supplémentaires congés maternité maladie accident accidents décès chaleur risques "
  "vulnérables vulnérabilité situation situations épanouissement sœurs cœur œuvre",
};

static const char *const words_es[] = {
  "el la los las de del un una y en a al para por con sin sobre entre desde hasta "
  "hacia contra durante tras su sus nuestro nuestra que quien donde es son fue ser ha "
  "han más también así muy todos todas todo esta este estos estas se lo",
  "trabajadores trabajadoras migrantes migración derechos derecho mujeres niños niñas "
  "jóvenes familias familia comunidad comunidades apoyo servicios jurídica asesoría "
  "acompañamiento refugiados refugiadas solicitantes asilo diáspora remesas salud "
  "educación formación capacitación empleo reclutamiento justo ético agencias "
  "empleadores sindicato sindicatos red redes organización asociación fundación "
  "centro consejo alianza coalición federación instituto comité programa proyecto "
  "proyectos iniciativa investigación datos política políticas gobierno local "
  "nacional regional internacional mundial retorno reintegración integración "
  "inclusión discriminación racismo xenofobia trata explotación trabajo forzoso "
  "violencia género igualdad clima desplazamiento ambiente desastre incidencia "
  "campaña sensibilización diálogo cooperación alianzas socios sociedad civil "
  "ciudadanos ciudadanía residencia permiso visado estatus indocumentados irregular "
  "regularización vías seguras dignidad humana protección social seguridad pensión "
  "salarios salario pago contratos contrato deuda tasas costos dinero financiera "
  "ahorro inversión desarrollo emprendedores empresas pequeñas habilidades "
  "reconocimiento títulos idioma cursos vivienda albergue alimentación atención "
  "médica enfermeras médicos hospitales salud mental línea información voluntarios "
  "voluntariado personal miembros socias junta informe anual evaluación estudio "
  "encuesta resultados evidencia lecciones aprendidas prácticas buenas éxitos "
  "fracasos desafíos barreras acceso justicia tribunales abogados casos denuncias "
  "mediación seguimiento inspección normas convenio convenios ratificación ley leyes "
  "reforma congreso ministerio embajada consulado frontera fronteras movilidad "
  "circular temporeros agricultura construcción pesca cuidadoras hostelería fábrica "
  "maquila transporte conductores marinos estudiantes becas universidades escuelas",
  "ofrece brinda ayuda acompaña organiza promueve defiende representa capacita conecta "
  "reúne documenta recoge publica vigila fortalece construye mejora reduce previene "
  "protege informa acoge coordina facilita financia negocia escucha orienta traduce "
  "fundada creada ubicada activa presente ciudad ciudades barrio barrios rural urbana "
  "provincia departamento región regiones país países continente áfrica asia europa "
  "américa latina centroamérica caribe andina norte sur este oeste primera año años "
  "mes meses semana días personas hombres chicos chicas madres padres mayores "
  "discapacidad víctimas sobrevivientes retornados origen destino tránsito extranjero "
  "extranjeros salida llegada orientación acogida emergencia crisis conflicto paz "
  "guerra pandemia recuperación ingresos pobreza desigualdad digno economía informal "
  "sector sectores privado público abierto gratuito calificados profesionales "
  "comunitaria religiosa feminista liderada gestionada principal esencial eficaz "
  "exitosa innovadora sostenible piloto modelo enfoque método herramientas guía "
  "manual módulo talleres seminario congreso foro reunión plataforma sitio aplicación "
  "digital radio medios periodistas prensa testimonios voces petición marcha huelga "
  "negociación colectiva acuerdo acuerdos bilateral marco estrategia plan presupuesto "
  "recursos capacidades memoria institucional conocimiento intercambio aprendizaje "
  "pares mentoría participación representación democrática transparencia gobernanza "
  "coherencia consulta actores expertos investigadores registro acreditación recurso "
  "reparación indemnización deportación detención expulsión naturalización apatridia "
  "documentos pasaporte retención horas extras vacaciones maternidad enfermedad "
  "accidente accidentes muertes calor riesgos vulnerables vulnerabilidad situación "
  "situaciones compañeras compañeros peñas señoras año mañana",
};

static const char *const words_de[] = {
  "der die das den dem des ein eine einer einem und in im für mit auf von zu zur zum "
  "aus bei nach vor über unter zwischen gegen ohne durch seit während ihre ihr sein "
  "seine unsere wir sie es ist sind war wurde werden hat haben auch mehr sehr alle "
  "jede diese dieser dieses sich nicht",
  "Arbeitnehmer Arbeitnehmerinnen Migranten Migrantinnen Migration Zuwanderung Rechte "
  "Recht Frauen Kinder Jugendliche Familien Familie Gemeinschaft Gemeinden "
  "Unterstützung Dienste Rechtsberatung Beratung Begleitung Flüchtlinge Geflüchtete "
  "Asylsuchende Diaspora Rücküberweisungen Gesundheit Bildung Ausbildung "
  "Weiterbildung Beschäftigung Anwerbung faire ethische Agenturen Arbeitgeber "
  "Gewerkschaft Gewerkschaften Netzwerk Netzwerke Organisation Verein Verband "
  "Stiftung Zentrum Rat Bündnis Koalition Institut Ausschuss Programm Projekt "
  "Projekte Initiative Forschung Daten Politik Regierung lokal national regional "
  "international global Rückkehr Reintegration Integration Teilhabe Inklusion "
  "Diskriminierung Rassismus Fremdenfeindlichkeit Menschenhandel Ausbeutung "
  "Zwangsarbeit Gewalt Geschlecht Gleichstellung Klima Vertreibung Umwelt Katastrophe "
  "Interessenvertretung Kampagne Aufklärung Dialog Zusammenarbeit Partnerschaft "
  "Partner Zivilgesellschaft Bürger Staatsangehörigkeit Aufenthalt "
  "Aufenthaltserlaubnis Visum Status Papierlose irregulär Legalisierung sichere Wege "
  "Würde Menschenwürde Schutz soziale Sicherheit Rente Löhne Lohn Bezahlung Verträge "
  "Vertrag Schulden Gebühren Kosten Geld finanzielle Ersparnisse Investitionen "
  "Entwicklung Unternehmer Unternehmen Kompetenzen Anerkennung Abschlüsse Sprache "
  "Sprachkurse Wohnung Unterkunft Ernährung Versorgung Pflegekräfte Ärzte "
  "Krankenhäuser psychische Hotline Information Ehrenamtliche Ehrenamt Mitarbeitende "
  "Mitglieder Vorstand Jahresbericht Evaluation Studie Umfrage Ergebnisse Belege "
  "Erfahrungen Praxis Herausforderungen Hürden Zugang Justiz Gerichte Anwälte Fälle "
  "Beschwerden Mediation Beobachtung Kontrolle Normen Übereinkommen Ratifizierung "
  "Gesetz Gesetze Reform Bundestag Ministerium Botschaft Konsulat Grenze Grenzen "
  "Mobilität zirkuläre Saisonarbeit Landwirtschaft Bauwirtschaft Fischerei "
  "Pflege Gastgewerbe Fabrik Textil Transport Fahrer Seeleute Studierende "
  "Stipendien Hochschulen Schulen Lehrkräfte",
  "bietet hilft begleitet organisiert fördert verteidigt vertritt schult verbindet "
  "dokumentiert sammelt veröffentlicht beobachtet stärkt baut verbessert verringert "
  "verhindert schützt informiert empfängt koordiniert finanziert verhandelt hört "
  "übersetzt gegründet ansässig aktiv tätig Stadt Städte Viertel ländlich städtisch "
  "Bundesland Landkreis Region Regionen Land Länder Kontinent Afrika Asien Europa "
  "Amerika Nahost Norden Süden Osten Westen erste Jahr Jahre Monat Monate Woche Tage "
  "Menschen Personen Männer Jungen Mädchen Mütter Väter Ältere Behinderung Opfer "
  "Überlebende Rückkehrende Herkunft Ziel Transit Ausland Ausländer Ausländerinnen "
  "Abreise Ankunft Orientierung Aufnahme Notfall Krise Krisen Konflikt Frieden Krieg "
  "Pandemie Erholung Einkommen Armut Ungleichheit menschenwürdige Arbeit informelle "
  "Wirtschaft Sektor privat öffentlich offen kostenlos qualifizierte Fachkräfte "
  "Fachkräfteeinwanderung Gemeinwesen kirchliche feministische geführt wichtig "
  "wichtigste wesentlich wirksam erfolgreich innovativ nachhaltig Pilotprojekt Modell "
  "Ansatz Methode Werkzeuge Leitfaden Handbuch Modul Workshops Seminar Tagung Forum "
  "Treffen Plattform Webseite App digital Radio Medien Journalisten Presse Zeugnisse "
  "Stimmen Petition Demonstration Streik Tarifverhandlungen Vereinbarung Abkommen "
  "bilateral Rahmen Strategie Aktionsplan Haushalt Ressourcen Kapazitäten "
  "institutionelles Gedächtnis Wissen Austausch Lernen Mentoring Beteiligung "
  "Vertretung demokratische Transparenz Verantwortung Kohärenz Anhörung Akteure "
  "Fachleute Forschende Registrierung Zertifizierung Beschwerdestelle "
  "Wiedergutmachung Entschädigung Abschiebung Abschiebehaft Einbürgerung "
  "Staatenlosigkeit Dokumente Reisepass Überstunden Urlaub Mutterschutz Krankheit "
  "Unfall Unfälle Todesfälle Hitze Risiken verletzliche Lage Straße Straßen Größe "
  "Füße Maßnahmen Maßnahme Grüße Fußball Außenstelle Gemeinschaftsküche "
  "Willkommenskultur Patenschaften Begegnung Begegnungsstätte Nachbarschaft",
};

static const char *const words_ar[] = {
  "في من إلى على عن مع هذا هذه التي الذي و أو ثم كما بين خلال بعد قبل حتى كل هو هي "
  "تم لدى عبر ضد دون نحو",
  "المهاجرين المهاجرات الهجرة العمال العاملات حقوق حق النساء المرأة الأطفال الشباب "
  "الأسر الأسرة المجتمع المجتمعات دعم خدمات القانونية استشارات مرافقة اللاجئين "
  "اللاجئات طالبي اللجوء الشتات التحويلات الصحة التعليم التدريب التوظيف التشغيل "
  "الاستقدام العادل الأخلاقي وكالات أصحاب العمل نقابة النقابات شبكة الشبكات منظمة "
  "جمعية مؤسسة مركز مجلس تحالف ائتلاف اتحاد معهد لجنة برنامج مشروع مشاريع مبادرة "
  "البحث البيانات السياسات الحكومة المحلية الوطنية الإقليمية الدولية العالمية العودة "
  "إعادة الإدماج الاندماج الإدماج التمييز العنصرية الاتجار بالبشر الاستغلال العمل "
  "الجبري العنف النوع الاجتماعي المساواة المناخ النزوح البيئة الكوارث المناصرة حملة "
  "التوعية الحوار التعاون الشراكة الشركاء المدني المواطنين المواطنة الإقامة تصريح "
  "التأشيرة الوضع غير النظاميين تسوية آمنة الكرامة الإنسانية الحماية الضمان التقاعد "
  "الأجور الأجر الدفع العقود عقد الديون الرسوم التكاليف المال المالية الادخار "
  "الاستثمار التنمية رواد الأعمال المؤسسات الصغيرة المهارات الاعتراف المؤهلات اللغة "
  "دورات السكن المأوى الغذاء الرعاية الطبية الممرضات الأطباء المستشفيات النفسية "
  "الخط الساخن المعلومات المتطوعين الموظفين الأعضاء التقرير السنوي التقييم دراسة "
  "المسح النتائج الأدلة الدروس الممارسات الجيدة نجح فشل التحديات العوائق الوصول "
  "العدالة المحاكم المحامين القضايا الشكاوى الوساطة الرصد التفتيش المعايير اتفاقية "
  "القانون القوانين الإصلاح البرلمان الوزارة السفارة القنصلية الحدود التنقل "
  "الموسمية الزراعة البناء الصيد المنزلي المنزليات الضيافة المصانع النقل السائقين "
  "البحارة الطلاب المنح الجامعات المدارس",
  "يقدم تقدم يساعد ينظم يعزز يدافع يمثل يدرب يربط يوثق ينشر يرصد يبني يحسن يحمي "
  "يستقبل ينسق يمول تأسست مقرها نشطة المدينة المدن الريف الحضر المحافظة المنطقة "
  "البلد البلدان أفريقيا آسيا أوروبا الخليج العربي المتوسط الشمال الجنوب الشرق "
  "الغرب السنة سنوات أشهر الأسبوع أيام الأشخاص الرجال الفتيات الأمهات كبار السن "
  "الإعاقة الضحايا الناجيات العائدين المنشأ المقصد العبور الخارج المغادرة الوصول "
  "الطوارئ الأزمة الأزمات النزاع السلام الحرب الجائحة التعافي الدخل الفقر اللامساواة "
  "اللائق الاقتصاد غير الرسمي القطاع الخاص العام المفتوح المجاني المهنيين الكفالة "
  "نظام إلغاء النموذج النهج الأدوات الدليل ورشة ورش المنتدى المنصة الموقع الإذاعة "
  "الإعلام الصحفيين الشهادات الأصوات العريضة الإضراب المفاوضة الجماعية الاتفاق "
  "الثنائي الإطار الاستراتيجية الخطة الميزانية الموارد القدرات الذاكرة المؤسسية "
  "المعرفة تبادل التعلم المشاركة التمثيل الديمقراطية الشفافية المساءلة الحوكمة "
  "الاتساق التشاور الخبراء الباحثين التسجيل التعويض الترحيل الاحتجاز التجنيس "
  "انعدام الجنسية الوثائق جواز السفر مصادرة ساعات إضافية الإجازة الأمومة المرض "
  "الحوادث الوفيات الحرارة المخاطر الفئات الهشة أمان إنسان آفاق إرشاد أمل",
};

typedef struct lang {
  const char *code;            /* BCP 47 */
  const char *const *chunks;
  size_t nchunks;
  char **w;                    /* words, most frequent first */
  size_t n;
  size_t nfunc;                /* the first chunk: function words */
  double *cdf;
  bool caps;                   /* sentences start with a capital (Latin) */
} lang;

enum { L_EN, L_FR, L_ES, L_DE, L_AR, L__N };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static lang langs[L__N] = {
  { "en", words_en, NELEM(words_en), NULL, 0, 0, NULL, true },
  { "fr", words_fr, NELEM(words_fr), NULL, 0, 0, NULL, true },
  { "es", words_es, NELEM(words_es), NULL, 0, 0, NULL, true },
  { "de", words_de, NELEM(words_de), NULL, 0, 0, NULL, true },
  { "ar", words_ar, NELEM(words_ar), NULL, 0, 0, NULL, false },
};

/* Builds a Zipf CDF (s = 1) over n ranks. */
static double *zipf_cdf(size_t n) {
  double *c = xmalloc(n * sizeof *c), t = 0;
  for (size_t i = 0; i < n; i++) c[i] = (t += 1.0 / (double)(i + 1));
  for (size_t i = 0; i < n; i++) c[i] /= t;
  return c;
}

static size_t zipf_pick(rng *r, const double *cdf, size_t n) {
  double u = rng_unit(r);
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void lang_init(lang *l) {
  size_t cap = 256;
  l->w = xmalloc(cap * sizeof *l->w);
  for (size_t c = 0; c < l->nchunks; c++) {
    const char *p = l->chunks[c];
    while (*p) {
      while (*p == ' ') p++;
      const char *e = p;
      while (*e && *e != ' ') e++;
      if (e > p) {
        if (l->n == cap) {
          cap *= 2;
          char **nw = realloc(l->w, cap * sizeof *nw);
          if (!nw) die("out of memory");
          l->w = nw;
        }
        l->w[l->n] = strndup(p, (size_t)(e - p));
        if (!l->w[l->n]) die("out of memory");
        l->n++;
      }
      p = e;
    }
    if (c == 0) l->nfunc = l->n;
  }
  l->cdf = zipf_cdf(l->n);
}

/* A long tail of proper names (acronyms, place and project names): rare
 * words, as in real directories.  Name k is built from k's digits in base
 * 48 syllables, so it is the same in every run. */
#define TAIL_N 60000
static double *tail_cdf;
static void tail_name(size_t k, char *out, size_t cap) {
  static const char *const syl[] = {
    "ka", "lu", "mbo", "ta", "ri", "no", "sa", "vel", "dor", "mi", "zan", "qu", "el",
    "bi", "rut", "ho", "nde", "ya", "gu", "ro", "fe", "lis", "ma", "ko", "wen", "da",
    "shi", "to", "ran", "ze", "pa", "ni", "lo", "ve", "ar", "is", "um", "ba", "ti",
    "ke", "su", "dri", "an", "ol", "ju", "gha", "ny", "or",
  };
  size_t o = 0, x = k + 48 * 48; /* at least three syllables */
  do {
    const char *s = syl[x % 48];
    size_t n = strlen(s);
    if (o + n + 1 >= cap) break;
    memcpy(out + o, s, n);
    o += n;
    x /= 48;
  } while (x);
  out[o] = 0;
  if (o) out[0] = (char)(out[0] - 32); /* a proper name */
}

static void vocab_init(void) {
  for (int i = 0; i < L__N; i++) lang_init(&langs[i]);
  tail_cdf = zipf_cdf(TAIL_N);
}

static size_t vocab_size(void) {
  size_t n = 0;
  for (int i = 0; i < L__N; i++) n += langs[i].n;
  return n;
}

/* Appends a word with its first letter upper-cased (ASCII and Latin-1
 * lower-case letters; others as they are). */
static void add_cap(sbuf *b, const char *w) {
  const uint8_t *u = (const uint8_t *)w;
  if (u[0] >= 'a' && u[0] <= 'z') {
    char c = (char)(u[0] - 32);
    sb_add(b, &c, 1);
    sb_str(b, w + 1);
  } else if (u[0] == 0xc3 && u[1] >= 0xa0 && u[1] <= 0xbe && u[1] != 0xb7) {
    char c[2] = { (char)0xc3, (char)(u[1] - 0x20) };
    sb_add(b, c, 2);
    sb_str(b, w + 2);
  } else {
    sb_str(b, w);
  }
}

/* Text of min..max characters (code points) in language l: sentences of
 * Zipf-drawn words, with now and then a proper name from the tail. */
static void gen_text(rng *r, const lang *l, size_t min, size_t max, sbuf *out) {
  size_t target = min + rng_below(r, max - min + 1), chars = 0;
  bool start = true;
  size_t in_sentence = 0, sentence_len = 6 + rng_below(r, 12);
  sb_reset(out);
  for (;;) {
    char tn[64];
    const char *w;
    if (rng_chance(r, 0.02)) {
      tail_name(zipf_pick(r, tail_cdf, TAIL_N), tn, sizeof tn);
      w = tn;
    } else {
      w = l->w[zipf_pick(r, l->cdf, l->n)];
    }
    size_t wl = u8len(w, strlen(w));
    if (chars + wl + 2 > max) break;
    if (out->len) { sb_add(out, " ", 1); chars++; }
    if (start && l->caps) add_cap(out, w);
    else sb_str(out, w);
    chars += wl;
    start = false;
    if (++in_sentence >= sentence_len) {
      sb_add(out, ".", 1);
      chars++;
      start = true;
      in_sentence = 0;
      sentence_len = 6 + rng_below(r, 12);
      if (chars >= target) break;
    } else if (rng_chance(r, 0.06)) {
      sb_add(out, ",", 1);
      chars++;
    }
  }
  if (!start) sb_add(out, ".", 1);
}

/* ---- places and names ---------------------------------------------------- */

typedef struct city { const char *name, *cc; int lang; } city;

static const city cities[] = {
  { "Manila", "PH", L_EN }, { "Cebu", "PH", L_EN }, { "Dhaka", "BD", L_EN },
  { "Kathmandu", "NP", L_EN }, { "Colombo", "LK", L_EN }, { "Lagos", "NG", L_EN },
  { "Accra", "GH", L_EN }, { "Nairobi", "KE", L_EN }, { "Kampala", "UG", L_EN },
  { "Johannesburg", "ZA", L_EN }, { "Harare", "ZW", L_EN }, { "London", "GB", L_EN },
  { "Manchester", "GB", L_EN }, { "Dublin", "IE", L_EN }, { "New York", "US", L_EN },
  { "Los Angeles", "US", L_EN }, { "Toronto", "CA", L_EN }, { "Sydney", "AU", L_EN },
  { "Auckland", "NZ", L_EN }, { "Kuala Lumpur", "MY", L_EN }, { "Singapore", "SG", L_EN },
  { "Hong Kong", "HK", L_EN }, { "Jakarta", "ID", L_EN }, { "Bangkok", "TH", L_EN },
  { "Delhi", "IN", L_EN }, { "Kerala", "IN", L_EN }, { "Karachi", "PK", L_EN },
  { "Athens", "GR", L_EN }, { "Valletta", "MT", L_EN }, { "Addis Ababa", "ET", L_EN },
  { "Paris", "FR", L_FR }, { "Lyon", "FR", L_FR }, { "Marseille", "FR", L_FR },
  { "Montréal", "CA", L_FR }, { "Québec", "CA", L_FR }, { "Genève", "CH", L_FR },
  { "Lausanne", "CH", L_FR }, { "Bruxelles", "BE", L_FR }, { "Liège", "BE", L_FR },
  { "Dakar", "SN", L_FR }, { "Saint-Louis", "SN", L_FR }, { "Bamako", "ML", L_FR },
  { "Niamey", "NE", L_FR }, { "Abidjan", "CI", L_FR }, { "Ouagadougou", "BF", L_FR },
  { "Yaoundé", "CM", L_FR }, { "Kinshasa", "CD", L_FR }, { "Port-au-Prince", "HT", L_FR },
  { "Lomé", "TG", L_FR }, { "Cotonou", "BJ", L_FR }, { "Nouakchott", "MR", L_FR },
  { "Madrid", "ES", L_ES }, { "Barcelona", "ES", L_ES }, { "Almería", "ES", L_ES },
  { "Málaga", "ES", L_ES }, { "Bogotá", "CO", L_ES }, { "Medellín", "CO", L_ES },
  { "Cúcuta", "CO", L_ES }, { "Ciudad de México", "MX", L_ES }, { "Tijuana", "MX", L_ES },
  { "Mérida", "MX", L_ES }, { "Guatemala", "GT", L_ES }, { "San Salvador", "SV", L_ES },
  { "Tegucigalpa", "HN", L_ES }, { "San José", "CR", L_ES }, { "Lima", "PE", L_ES },
  { "Quito", "EC", L_ES }, { "Asunción", "PY", L_ES }, { "Buenos Aires", "AR", L_ES },
  { "Santiago", "CL", L_ES }, { "La Paz", "BO", L_ES }, { "Caracas", "VE", L_ES },
  { "Berlin", "DE", L_DE }, { "München", "DE", L_DE }, { "Köln", "DE", L_DE },
  { "Düsseldorf", "DE", L_DE }, { "Nürnberg", "DE", L_DE }, { "Frankfurt", "DE", L_DE },
  { "Hamburg", "DE", L_DE }, { "Wien", "AT", L_DE }, { "Graz", "AT", L_DE },
  { "Zürich", "CH", L_DE }, { "Basel", "CH", L_DE }, { "Göttingen", "DE", L_DE },
  { "Saarbrücken", "DE", L_DE }, { "Lübeck", "DE", L_DE },
  { "عمّان", "JO", L_AR }, { "بيروت", "LB", L_AR }, { "القاهرة", "EG", L_AR },
  { "الإسكندرية", "EG", L_AR }, { "تونس", "TN", L_AR }, { "الرباط", "MA", L_AR },
  { "الدار البيضاء", "MA", L_AR }, { "الجزائر", "DZ", L_AR }, { "الدوحة", "QA", L_AR },
  { "دبي", "AE", L_AR }, { "الرياض", "SA", L_AR }, { "الكويت", "KW", L_AR },
  { "مسقط", "OM", L_AR }, { "أربيل", "IQ", L_AR }, { "الخرطوم", "SD", L_AR },
  { "Beyrouth", "LB", L_FR }, { "Tunis", "TN", L_FR }, { "Rabat", "MA", L_FR },
  { "Casablanca", "MA", L_FR }, { "Alger", "DZ", L_FR }, { "São Paulo", "BR", L_ES },
  { "Malmö", "SE", L_EN }, { "Kraków", "PL", L_EN }, { "Tromsø", "NO", L_EN },
  { "İstanbul", "TR", L_EN }, { "Gaziantep", "TR", L_EN }, { "Reykjavík", "IS", L_EN },
  { "Hà Nội", "VN", L_EN }, { "Łódź", "PL", L_EN }, { "Århus", "DK", L_EN },
};

static const char *const first_names[] = {
  "José", "María", "François", "Amélie", "Zoë", "Jürgen", "Björn", "Søren", "Ayşe",
  "Mehmet", "Fatima", "Aïcha", "Mamadou", "Ousmane", "Awa", "Chiamaka", "Ngozi",
  "Grace", "Joseph", "Rosa", "Lucía", "Inés", "Andrés", "Nguyễn", "Thảo", "Priya",
  "Anjali", "Ramón", "Noël", "Hélène", "Łukasz", "Małgorzata", "Dragoş", "Ioana",
  "Maricel", "Jocelyn", "Rizal", "Siti", "Nur", "Kwame", "Ama", "Tendai", "Themba",
  "Yusuf", "Leïla", "Sébastien", "Begoña", "Iñaki", "Ångström", "محمد", "فاطمة",
  "أحمد", "ليلى", "يوسف", "مريم", "Olusegun", "Emeka", "Chloé", "Gérard", "Dolores",
};

static const char *const last_names[] = {
  "García", "Müller", "Dubois", "Martínez", "Yılmaz", "Nguyễn", "Diallo", "Traoré",
  "Ndiaye", "Okonkwo", "Mensah", "Santos", "dela Cruz", "Reyes", "Fernández",
  "Gómez", "Hernández", "Schröder", "Weiß", "Groß", "Lefèvre", "Benoît", "Château",
  "Åberg", "Østergaard", "Kowalski", "Wójcik", "Popescu", "Sharma", "Pérez",
  "Ibrahim", "El Idrissi", "Benali", "Haddad", "Khoury", "Mwangi", "Otieno",
  "Banda", "Moyo", "Ramírez", "Núñez", "Peña", "Ortíz", "Çelik", "Öztürk",
  "العلي", "الحسن", "منصور", "حداد", "Fontaine", "Lévesque", "Gagné", "Côté",
};

static const char *const roles_txt[] = {
  "coordinator", "legal officer", "director", "caseworker", "researcher",
  "coordinatrice", "juriste", "présidente", "chargée de plaidoyer", "directora",
  "abogada", "promotora comunitaria", "coordinador regional", "Geschäftsführerin",
  "Sozialarbeiterin", "Rechtsberater", "منسقة", "مديرة البرامج", "باحث",
  "union organiser", "community paralegal", "peer educator",
};

/* Organisation name in language l, in the style of that language. */
static void gen_org_name(rng *r, const city *c, sbuf *out) {
  static const char *const en_kind[] = {
    "Centre for", "Network of", "Alliance of", "Association of", "Council for",
    "Foundation for", "Institute for", "Coalition for",
  };
  static const char *const en_subj[] = {
    "Migrant Workers", "Domestic Workers' Rights", "Refugee Women", "Fair Recruitment",
    "Diaspora Development", "Migrant Health", "Returnees", "Seafarers' Welfare",
    "Migrant Children", "Labour Migration Research", "Overseas Filipino Workers",
  };
  static const char *const fr_pat[] = {
    "Association des travailleurs migrants de", "Collectif des sans-papiers de",
    "Fédération des travailleuses domestiques de", "Maison des migrants de",
    "Réseau des femmes migrantes de", "Société d'entraide des étrangers de",
    "Comité de défense des réfugiés de", "Centre d'accueil et d'orientation de",
  };
  static const char *const es_pat[] = {
    "Asociación de Trabajadores Migrantes de", "Red de Mujeres Migrantes de",
    "Fundación para la Integración de", "Sindicato de Trabajadoras del Hogar de",
    "Casa del Migrante de", "Centro de Atención al Refugiado de",
    "Pastoral de Movilidad Humana de", "Comisión de Derechos Humanos de",
  };
  static const char *const de_pat[] = {
    "Verein für Migrationsberatung", "Flüchtlingsrat", "Beratungszentrum für Geflüchtete",
    "Netzwerk Arbeitnehmerrechte", "Initiative Willkommenskultur", "Migrantinnenverein",
    "Stiftung Teilhabe und Integration", "Gewerkschaftliche Beratungsstelle",
  };
  static const char *const ar_pat[] = {
    "جمعية حقوق العمال المهاجرين في", "شبكة دعم اللاجئين في", "مركز الهجرة والتنمية في",
    "مؤسسة حماية العاملات المنزليات في", "المرصد الوطني للهجرة في", "اتحاد العمال الوافدين في",
  };
  char tn[64];
  sb_reset(out);
  if (rng_chance(r, 0.3)) { /* a proper name in front: "Kalumbo ..." */
    tail_name(zipf_pick(r, tail_cdf, TAIL_N), tn, sizeof tn);
    sb_str(out, tn);
    sb_str(out, " ");
  }
  switch (c->lang) {
  case L_FR: sb_fmt(out, "%s %s", fr_pat[rng_below(r, NELEM(fr_pat))], c->name); break;
  case L_ES: sb_fmt(out, "%s %s", es_pat[rng_below(r, NELEM(es_pat))], c->name); break;
  case L_DE: sb_fmt(out, "%s %s", de_pat[rng_below(r, NELEM(de_pat))], c->name); break;
  case L_AR: sb_fmt(out, "%s %s", ar_pat[rng_below(r, NELEM(ar_pat))], c->name); break;
  default:
    if (rng_chance(r, 0.5))
      sb_fmt(out, "%s %s %s", c->name, en_subj[rng_below(r, NELEM(en_subj))], "Network");
    else
      sb_fmt(out, "%s %s, %s", en_kind[rng_below(r, NELEM(en_kind))],
             en_subj[rng_below(r, NELEM(en_subj))], c->name);
  }
}

static void gen_title(rng *r, const city *c, const lang *l, sbuf *out) {
  static const char *const en[] = {
    "Pre-departure training for domestic workers in", "Legal clinic for migrant workers in",
    "Zero-fee recruitment pilot in", "Diaspora investment fund for", "Return and reintegration support in",
    "Mobile helpline for seafarers in", "Remittance literacy courses in",
  };
  static const char *const fr[] = {
    "Permanence juridique pour les travailleurs étrangers à", "Cours de français et accueil à",
    "Médiation interculturelle dans les écoles de", "Régularisation accompagnée à",
  };
  static const char *const es[] = {
    "Escuela de liderazgo para mujeres migrantes en", "Acompañamiento jurídico a jornaleros en",
    "Casa de acogida para niños, niñas y adolescentes en", "Formación en derechos laborales en",
  };
  static const char *const de[] = {
    "Sprachpatenschaften in", "Anerkennungsberatung für Pflegekräfte in",
    "Begegnungscafé für Geflüchtete in", "Straßenfest der Vielfalt in",
  };
  static const char *const ar[] = {
    "برنامج التوعية بحقوق العاملات المنزليات في", "خط ساخن لدعم العمال المهاجرين في",
    "ورش تدريب للعائدين في",
  };
  sb_reset(out);
  int li = (int)(l - langs);
  switch (li) {
  case L_FR: sb_fmt(out, "%s %s", fr[rng_below(r, NELEM(fr))], c->name); break;
  case L_ES: sb_fmt(out, "%s %s", es[rng_below(r, NELEM(es))], c->name); break;
  case L_DE: sb_fmt(out, "%s %s", de[rng_below(r, NELEM(de))], c->name); break;
  case L_AR: sb_fmt(out, "%s %s", ar[rng_below(r, NELEM(ar))], c->name); break;
  default: sb_fmt(out, "%s %s", en[rng_below(r, NELEM(en))], c->name);
  }
}

/* ---- bodies ---------------------------------------------------------------- */

static void pk_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str_with_body(pk, s, n);
}

static void pk_kstr(msgpack_packer *pk, const char *k, const char *v) {
  pk_str(pk, k);
  pk_str(pk, v);
}

/* Picks k distinct indexes below n into out. */
static void pick_distinct(rng *r, size_t n, size_t k, size_t *out) {
  for (size_t i = 0; i < k; i++) {
    size_t x;
    bool dup;
    do {
      x = rng_below(r, n);
      dup = false;
      for (size_t j = 0; j < i; j++) dup |= out[j] == x;
    } while (dup);
    out[i] = x;
  }
}

static size_t n_themes(void) {
  size_t n = 0;
  while (schema_themes[n]) n++;
  return n;
}

static void pk_themes(rng *r, msgpack_packer *pk, size_t min) {
  size_t idx[4], k = min + rng_below(r, 4 - min + 1), nt = n_themes();
  if (k > 4) k = 4;
  pick_distinct(r, nt, k, idx);
  pk_str(pk, "themes");
  msgpack_pack_array(pk, k);
  for (size_t i = 0; i < k; i++) pk_str(pk, schema_themes[idx[i]]);
}

static void pk_langs(rng *r, msgpack_packer *pk, int main_lang) {
  static const char *const extra[] = { "en", "fr", "es", "de", "ar", "tl", "pt-BR", "sw", "ne" };
  const char *sel[3];
  size_t k = 1;
  sel[0] = langs[main_lang].code;
  for (size_t t = 0, want = rng_below(r, 3); t < 8 && k < 1 + want; t++) {
    const char *x = extra[rng_below(r, NELEM(extra))];
    bool dup = false;
    for (size_t j = 0; j < k; j++) dup |= !strcmp(sel[j], x);
    if (!dup) sel[k++] = x;
  }
  pk_str(pk, "languages");
  msgpack_pack_array(pk, k);
  for (size_t i = 0; i < k; i++) pk_str(pk, sel[i]);
}

typedef struct gen {
  rng r;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  sbuf t1, t2, t3;
  /* The last 1024 organisations (a ring), for references. */
  uint8_t orgs[1024][EKEY_LEN];
  size_t norgs;
} gen;

static const lang *pick_lang(rng *r, const city *c) {
  return rng_chance(r, 0.3) ? &langs[L_EN] : &langs[c->lang];
}

static void gen_org(gen *g, const uint8_t owner[KEY_LEN], const uint8_t id[ID_LEN]) {
  rng *r = &g->r;
  msgpack_packer *pk = &g->pk;
  const city *c = &cities[rng_below(r, NELEM(cities))];
  const lang *l = pick_lang(r, c);
  bool web = rng_chance(r, 0.6), mail = rng_chance(r, 0.5), phone = rng_chance(r, 0.3),
       member = g->norgs && rng_chance(r, 0.2), founded = rng_chance(r, 0.7);
  uint32_t n = 7 + web + mail + phone + member + founded;
  gen_org_name(r, c, &g->t1);
  gen_text(r, l, 100, 600, &g->t2);
  msgpack_pack_map(pk, n);
  pk_kstr(pk, "name", g->t1.p);
  pk_kstr(pk, "country", c->cc);
  static const char *const types[] = { "ngo", "ngo", "ngo", "diaspora", "union", "faith",
                                       "academic", "network", "other" };
  pk_kstr(pk, "type", types[rng_below(r, NELEM(types))]);
  pk_themes(r, pk, 1);
  pk_langs(r, pk, (int)(l - langs));
  pk_kstr(pk, "city", c->name);
  pk_kstr(pk, "description", g->t2.p);
  char tmp[128];
  if (web) {
    snprintf(tmp, sizeof tmp, "https://www.org%02x%02x%02x.example.org/", id[0], id[1], id[2]);
    pk_kstr(pk, "website", tmp);
  }
  if (mail) {
    snprintf(tmp, sizeof tmp, "contact@org%02x%02x%02x.example.org", id[0], id[1], id[2]);
    pk_kstr(pk, "email", tmp);
  }
  if (phone) {
    snprintf(tmp, sizeof tmp, "+%u %u %04u %04u", (unsigned)(1 + rng_below(r, 98)),
             (unsigned)rng_below(r, 100), (unsigned)rng_below(r, 10000), (unsigned)rng_below(r, 10000));
    pk_kstr(pk, "phone", tmp);
  }
  if (member) {
    pk_str(pk, "member_of");
    msgpack_pack_array(pk, 1);
    msgpack_pack_bin_with_body(pk, g->orgs[rng_below(r, g->norgs < 1024 ? g->norgs : 1024)], EKEY_LEN);
  }
  if (founded) {
    pk_str(pk, "founded");
    msgpack_pack_int(pk, 1950 + (int)rng_below(r, 75));
  }
  memcpy(g->orgs[g->norgs % 1024], owner, KEY_LEN);
  memcpy(g->orgs[g->norgs % 1024] + KEY_LEN, id, ID_LEN);
  g->norgs++; /* a ring of the last 1024 */
}

static void gen_actor(gen *g) {
  rng *r = &g->r;
  msgpack_packer *pk = &g->pk;
  const city *c = &cities[rng_below(r, NELEM(cities))];
  bool org = g->norgs && rng_chance(r, 0.8), contact = rng_chance(r, 0.3);
  uint32_t n = 5 + org + (contact ? 2 : 0);
  sb_reset(&g->t1);
  sb_fmt(&g->t1, "%s %s", first_names[rng_below(r, NELEM(first_names))],
         last_names[rng_below(r, NELEM(last_names))]);
  msgpack_pack_map(pk, n);
  pk_kstr(pk, "name", g->t1.p);
  pk_kstr(pk, "role", roles_txt[rng_below(r, NELEM(roles_txt))]);
  pk_kstr(pk, "country", c->cc);
  pk_themes(r, pk, 1);
  pk_langs(r, pk, c->lang);
  if (org) {
    size_t have = g->norgs < 1024 ? g->norgs : 1024;
    pk_str(pk, "org");
    msgpack_pack_bin_with_body(pk, g->orgs[rng_below(r, have)], EKEY_LEN);
  }
  if (contact) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "+%u %u %u", (unsigned)(1 + rng_below(r, 98)),
             (unsigned)rng_below(r, 1000), (unsigned)rng_below(r, 10000000));
    pk_kstr(pk, "contact", tmp);
    pk_str(pk, "consent");
    msgpack_pack_true(pk);
  }
}

static void gen_practice(gen *g) {
  static const char *const status[] = { "planned", "ongoing", "completed", "discontinued" };
  rng *r = &g->r;
  msgpack_packer *pk = &g->pk;
  const city *c = &cities[rng_below(r, NELEM(cities))];
  const lang *l = pick_lang(r, c);
  bool worked = rng_chance(r, 0.6), failed = rng_chance(r, 0.4), orgs = g->norgs && rng_chance(r, 0.7),
       ev = rng_chance(r, 0.3);
  uint32_t n = 6 + worked + failed + orgs + ev;
  gen_title(r, c, l, &g->t1);
  gen_text(r, l, 100, 600, &g->t2);
  msgpack_pack_map(pk, n);
  pk_kstr(pk, "title", g->t1.p);
  pk_kstr(pk, "summary", g->t2.p);
  pk_themes(r, pk, 1);
  {
    size_t k = 1 + (rng_chance(r, 0.3) ? 1 : 0);
    const char *cc2 = cities[rng_below(r, NELEM(cities))].cc;
    if (k == 2 && !strcmp(cc2, c->cc)) k = 1;
    pk_str(pk, "countries");
    msgpack_pack_array(pk, k);
    pk_str(pk, c->cc);
    if (k == 2) pk_str(pk, cc2);
  }
  char tmp[128];
  unsigned y = 1995 + (unsigned)rng_below(r, 28);
  snprintf(tmp, sizeof tmp, "%u-%u", y, y + 1 + (unsigned)rng_below(r, 5));
  pk_kstr(pk, "period", tmp);
  pk_kstr(pk, "status", status[rng_below(r, NELEM(status))]);
  if (worked) {
    gen_text(r, l, 80, 400, &g->t3);
    pk_kstr(pk, "worked", g->t3.p);
  }
  if (failed) {
    gen_text(r, l, 80, 300, &g->t3);
    pk_kstr(pk, "failed", g->t3.p);
  }
  if (orgs) {
    size_t have = g->norgs < 1024 ? g->norgs : 1024, idx[2], k = have > 1 && rng_chance(r, 0.3) ? 2 : 1;
    pick_distinct(r, have, k, idx);
    if (k == 2 && !memcmp(g->orgs[idx[0]], g->orgs[idx[1]], EKEY_LEN)) k = 1;
    pk_str(pk, "orgs");
    msgpack_pack_array(pk, k);
    for (size_t i = 0; i < k; i++) msgpack_pack_bin_with_body(pk, g->orgs[idx[i]], EKEY_LEN);
  }
  if (ev) {
    snprintf(tmp, sizeof tmp, "https://reports.example.net/%02x%02x/evaluation.pdf",
             (unsigned)rng_below(r, 256), (unsigned)rng_below(r, 256));
    pk_str(pk, "evidence");
    msgpack_pack_array(pk, 1);
    pk_str(pk, tmp);
  }
}

static void gen_init(gen *g, uint64_t seed) {
  memset(g, 0, sizeof *g);
  rng_seed(&g->r, seed);
  msgpack_sbuffer_init(&g->sb);
  msgpack_packer_init(&g->pk, &g->sb, msgpack_sbuffer_write);
}

static void gen_free(gen *g) {
  msgpack_sbuffer_destroy(&g->sb);
  free(g->t1.p);
  free(g->t2.p);
  free(g->t3.p);
}

/*
 * The stream of records: each new entry is an org (45%), an actor (30%) or a
 * practice (25%); about 5% of records are later versions of earlier entries
 * (edits), which exercises the current-version index.  ids[] remembers every
 * entry (16-byte id and kind) for that.
 */
typedef struct stream {
  gen g;
  uint8_t owner[KEY_LEN];
  uint8_t sk[64];
  uint8_t fed[HASH_LEN];
  uint64_t ts0;
  uint8_t (*ids)[ID_LEN];
  uint8_t *kinds;
  size_t nent, cap;
  double edit_share;
  uint64_t seq;
  uint64_t body_bytes, env_bytes, nrec;
} stream;

static void stream_init(stream *s, uint64_t seed, const uint8_t owner[KEY_LEN], const uint8_t sk[64],
                        const uint8_t fed[HASH_LEN], size_t expect, uint64_t ts0) {
  memset(s, 0, sizeof *s);
  gen_init(&s->g, seed);
  memcpy(s->owner, owner, KEY_LEN);
  memcpy(s->sk, sk, 64);
  memcpy(s->fed, fed, HASH_LEN);
  s->ts0 = ts0;
  s->cap = expect + 16;
  s->ids = xmalloc(s->cap * sizeof *s->ids);
  s->kinds = xmalloc(s->cap);
  s->edit_share = 0.05;
}

static void stream_free(stream *s) {
  gen_free(&s->g);
  free(s->ids);
  free(s->kinds);
  sodium_memzero(s->sk, sizeof s->sk);
}

/* Next record into out (REC_MAX bytes).  new_entry: 1 when it is a new
 * entry, 0 for an edit; force_new makes it a new entry. */
static size_t stream_next(stream *s, uint8_t *out, bool force_new, bool *new_entry) {
  gen *g = &s->g;
  rng *r = &g->r;
  uint8_t id[ID_LEN];
  int kind;
  bool edit = !force_new && s->nent > 100 && rng_chance(r, s->edit_share);
  if (edit) {
    size_t k = rng_below(r, s->nent);
    memcpy(id, s->ids[k], ID_LEN);
    kind = s->kinds[k];
  } else {
    double u = rng_unit(r);
    kind = u < 0.45 ? REC_ORG : u < 0.75 ? REC_ACTOR : REC_PRACTICE;
    rng_bytes(r, id, ID_LEN);
    if (s->nent == s->cap) {
      s->cap *= 2;
      uint8_t (*ni)[ID_LEN] = realloc(s->ids, s->cap * sizeof *ni);
      uint8_t *nk = realloc(s->kinds, s->cap);
      if (!ni || !nk) die("out of memory");
      s->ids = ni;
      s->kinds = nk;
    }
    memcpy(s->ids[s->nent], id, ID_LEN);
    s->kinds[s->nent++] = (uint8_t)kind;
  }
  msgpack_sbuffer_clear(&g->sb);
  if (kind == REC_ORG) gen_org(g, s->owner, id);
  else if (kind == REC_ACTOR) gen_actor(g);
  else gen_practice(g);
  size_t len;
  /* Timestamps rise by about a millisecond every four records. */
  int e = rec_build(kind, s->owner, id, s->ts0 + s->seq++ / 4, s->sk, (const uint8_t *)g->sb.data,
                    g->sb.size, s->fed, out, REC_MAX, &len);
  if (e) die("rec_build: %s", stoa_strerror(e));
  s->body_bytes += g->sb.size;
  s->env_bytes += len;
  s->nrec++;
  *new_entry = !edit;
  return len;
}

/* ---- files and processes ------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t max, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("%s: %s", path, strerror(errno));
  uint8_t *b = xmalloc(max + 1);
  size_t n = fread(b, 1, max + 1, f);
  fclose(f);
  if (n > max) die("%s: too large", path);
  *len = n;
  return b;
}

/* A plain (type 0) key file of cli/keys.h: "STOAKEY1", 0, 0, seed(32). */
static void read_plain_key(const char *path, uint8_t pk[32], uint8_t sk[64]) {
  size_t n;
  uint8_t *b = read_all(path, 4096, &n);
  if (n != 42 || memcmp(b, "STOAKEY1", 8) || b[8] != 0 || b[9] != 0)
    die("%s: not a plain Stoa key file (was the home made with --no-passphrase?)", path);
  crypto_sign_seed_keypair(pk, sk, b + 10);
  sodium_memzero(b, n);
  free(b);
}

static void read_charter(const char *home, charter *ch) {
  char p[4096];
  size_t n;
  snprintf(p, sizeof p, "%s/charter.stoa", home);
  uint8_t *b = read_all(p, CHARTER_MAX, &n);
  int e = charter_decode(b, n, ch);
  free(b);
  if (e) die("%s: %s", p, stoa_strerror(e));
}

/* Bytes on disk under dir (like du: allocated blocks). */
static uint64_t du_bytes(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  uint64_t t = 0;
  if (!d) return 0;
  while ((de = readdir(d))) {
    char p[4096];
    struct stat sb;
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    if (lstat(p, &sb)) continue;
    if (S_ISDIR(sb.st_mode)) t += du_bytes(p);
    else t += (uint64_t)sb.st_blocks * 512;
  }
  closedir(d);
  return t;
}

static uint64_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) ? 0 : (uint64_t)sb.st_size;
}

typedef struct run_res { double wall, user, sys; int status; } run_res;

/* Runs argv with stdout and stderr to log (appended; NULL = /dev/null). */
static run_res run(char *const argv[], const char *log) {
  run_res rr = { 0, 0, 0, -1 };
  double t0 = now_s();
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  int st;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0) die("wait4: %s", strerror(errno));
  rr.wall = now_s() - t0;
  rr.user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  rr.sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  rr.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return rr;
}

/* Runs a stoa command that must succeed; its output goes to dir/bench.log. */
typedef struct ctx {
  const char *stoa;
  const char *dir;
  char log[4096];
  size_t records, entries, queries;
  double seconds;
  uint64_t seed;
  bool skip_import, skip_search, build_verify;
  double verify1, verifyN;      /* results of part 1 */
  double verify_cpu;            /* verifies per CPU-second, one thread */
  struct vset *vset;            /* part 1's signatures, for part 2's second look */
  int ncpu;
} ctx;

static run_res stoa(ctx *c, const char *home, ...) {
  char *argv[32];
  int n = 0;
  va_list ap;
  argv[n++] = (char *)c->stoa;
  argv[n++] = (char *)"--home";
  argv[n++] = (char *)home;
  va_start(ap, home);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 31) argv[n++] = (char *)a;
  va_end(ap);
  argv[n] = NULL;
  FILE *f = fopen(c->log, "a");
  if (f) {
    fprintf(f, "$");
    for (int i = 0; i < n; i++) fprintf(f, " %s", argv[i]);
    fprintf(f, "\n");
    fclose(f);
  }
  run_res rr = run(argv, c->log);
  if (rr.status != 0) {
    fprintf(stderr, "bench_node: this command failed with status %d:\n ", rr.status);
    for (int i = 0; i < n; i++) fprintf(stderr, " %s", argv[i]);
    die("\nits output is in %s", c->log);
  }
  return rr;
}

/* The last line of the log (a command's summary). */
static void log_last_line(const ctx *c, char *out, size_t cap) {
  size_t n;
  uint8_t *b = read_all(c->log, 64u << 20, &n);
  out[0] = 0;
  while (n && (b[n - 1] == '\n' || b[n - 1] == '\r')) n--;
  size_t s = n;
  while (s && b[s - 1] != '\n' && b[s - 1] != '\r') s--;
  snprintf(out, cap, "%.*s", (int)(n - s), (char *)b + s);
  free(b);
}

/* ---- 1. raw verify rate ---------------------------------------------------- */

#define VMSGS 1024
#define VMSG_LEN 300

typedef struct vset {
  uint8_t msg[VMSGS][VMSG_LEN];
  uint8_t sig[VMSGS][64];
  uint8_t pk[8][32];
} vset;

typedef struct vjob { const vset *v; double seconds; uint64_t n; double wall, cpu; int bad; } vjob;

static void *verify_thread(void *arg) {
  vjob *j = arg;
  double t0 = now_s(), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t;
  uint64_t n = 0;
  do {
    for (int i = 0; i < 256; i++, n++) {
      size_t k = n % VMSGS;
      j->bad |= crypto_sign_verify_detached(j->v->sig[k], j->v->msg[k], VMSG_LEN, j->v->pk[k % 8]) != 0;
    }
    t = now_s() - t0;
  } while (t < j->seconds);
  j->n = n;
  j->wall = t;
  j->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  return NULL;
}

static vset *vset_make(uint64_t seed) {
  vset *v = xmalloc(sizeof *v);
  uint8_t sk[8][64];
  rng r;
  rng_seed(&r, seed);
  for (int i = 0; i < 8; i++) crypto_sign_keypair(v->pk[i], sk[i]);
  for (int k = 0; k < VMSGS; k++) {
    rng_bytes(&r, v->msg[k], VMSG_LEN);
    crypto_sign_detached(v->sig[k], NULL, v->msg[k], VMSG_LEN, sk[k % 8]);
  }
  sodium_memzero(sk, sizeof sk);
  return v;
}

/* Verifies per second of wall time with `threads` threads (each its own
 * loop), and per second of CPU time in *per_cpu. */
static double verify_rate(const vset *v, int threads, double seconds, double *per_cpu) {
  pthread_t th[64];
  vjob j[64];
  double sum = 0, n = 0, cpu = 0;
  if (threads > 64) threads = 64;
  for (int i = 0; i < threads; i++) {
    j[i] = (vjob){ v, seconds, 0, 0, 0, 0 };
    if (pthread_create(&th[i], NULL, verify_thread, &j[i])) die("pthread_create");
  }
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    if (j[i].bad) die("a signature failed to verify");
    sum += (double)j[i].n / j[i].wall;
    n += (double)j[i].n;
    cpu += j[i].cpu;
  }
  if (per_cpu) *per_cpu = cpu > 0 ? n / cpu : 0;
  return sum;
}

static void part_verify(ctx *c) {
  vset *v = vset_make(c->seed);
  printf("== 1. raw Ed25519 verify (crypto_sign_verify_detached, %d-byte messages)\n", VMSG_LEN);
  print_load("now");
  verify_rate(v, 1, 0.2, NULL); /* warm up, let the clock settle */
  /* The reference is the fastest of three runs: on a shared machine a
   * run can be slowed by others, and a slow reference would flatter the
   * import's ratio.  (Part 2 measures once more after the import.) */
  for (int i = 0; i < 3; i++) {
    double cpu, r = verify_rate(v, 1, c->seconds, &cpu);
    printf("  one core, run %d:     %10.0f verifies/s  (%.0f per CPU-second: %.1f us each)\n", i + 1, r, cpu,
           1e6 / cpu);
    if (r > c->verify1) c->verify1 = r;
    if (cpu > c->verify_cpu) c->verify_cpu = cpu;
  }
  if (c->ncpu > 1) {
    c->verifyN = verify_rate(v, c->ncpu, c->seconds, NULL);
    printf("  %2d threads:          %10.0f verifies/s  (%.2fx one core%s)\n", c->ncpu, c->verifyN,
           c->verifyN / c->verify1,
           c->verifyN / c->verify1 < 0.8 * c->ncpu ? ": the cores are not all free" : "");
  } else {
    c->verifyN = c->verify1;
  }
  fflush(stdout);
  c->vset = v;
}

/* ---- 2. import ------------------------------------------------------------- */

static int fwrite_cb(void *vf, const void *buf, size_t len) {
  return fwrite(buf, 1, len, vf) == len ? 0 : -EIO;
}

/* Writes n records of the home's editor into a bundle.  Returns the stream's
 * totals through *st (freed inside). */
static void make_bundle(ctx *c, const char *home, const char *path, size_t n, uint64_t *env_bytes,
                        uint64_t *body_bytes, size_t *entries) {
  char p[8300];
  uint8_t net_pk[32], ed_pk[32], ed_sk[64];
  charter ch;
  stream s;
  read_charter(home, &ch);
  snprintf(p, sizeof p, "%s/keys/editor.key", home);
  read_plain_key(p, ed_pk, ed_sk);
  { /* the network key is the owner: read its public half from the .pub */
    char q[8300];
    size_t l;
    snprintf(q, sizeof q, "%s/keys/network.pub", home);
    uint8_t *b = read_all(q, 4096, &l);
    if (l < 64) die("%s: too short", q);
    for (int i = 0; i < 32; i++) {
      unsigned x;
      if (sscanf((char *)b + 2 * i, "%2x", &x) != 1) die("%s: not hex", q);
      net_pk[i] = (uint8_t)x;
    }
    free(b);
  }
  stream_init(&s, c->seed * 7919 + 1, net_pk, ed_sk, ch.id, n, wall_ms());
  sodium_memzero(ed_sk, sizeof ed_sk);
  FILE *f = fopen(path, "wb");
  if (!f) die("%s: %s", path, strerror(errno));
  bundle_writer w;
  bundle_hdr h;
  memset(&h, 0, sizeof h);
  memcpy(h.fed, ch.id, HASH_LEN);
  h.created = wall_ms();
  h.part = h.parts = 1;
  uint8_t *buf = xmalloc(REC_MAX);
  int e = bundle_writer_init(&w, &h, fwrite_cb, f);
  for (size_t i = 0; i < n && !e; i++) {
    bool fresh;
    size_t len = stream_next(&s, buf, false, &fresh);
    e = bundle_writer_add(&w, buf, len);
  }
  if (!e) e = bundle_writer_finish(&w);
  if (e || fclose(f)) die("%s: cannot write the bundle (%s)", path, stoa_strerror(e));
  free(buf);
  *env_bytes = s.env_bytes;
  *body_bytes = s.body_bytes;
  *entries = s.nent;
  stream_free(&s);
}

/* store_ingest alone on a bundle, in this process, signatures taken as
 * checked: the store's share of the import. */
static double ingest_only(const char *storedir, const char *path, size_t *fresh, double *cpu,
                          iost *written) {
  store *st;
  int e;
  size_t n;
  if ((e = store_open(&st, storedir, NULL))) die("%s: %s", storedir, stoa_strerror(e));
  int fd = open(path, O_RDONLY);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb)) die("%s: %s", path, strerror(errno));
  n = (size_t)sb.st_size;
  uint8_t *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) die("mmap: %s", strerror(errno));
  bundle_reader br;
  if ((e = bundle_reader_init(&br, map, n))) die("%s: %s", path, stoa_strerror(e));
  store_item *items = xcalloc(BATCH, sizeof *items);
  store_counts cnt = { 0 };
  double t0 = now_s(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  iost w0 = io_now();
  int rd = 1;
  while (rd == 1) {
    size_t k = 0;
    while (k < BATCH) {
      const uint8_t *b;
      size_t l;
      if ((rd = bundle_reader_next(&br, &b, &l)) != 1) break;
      store_item *it = &items[k];
      memset(it, 0, sizeof *it);
      it->buf = b;
      it->len = l;
      if (rec_decode(b, l, &it->r)) continue;
      it->sig_ok = true;
      k++;
    }
    if (k && (e = store_ingest(st, items, k, wall_ms(), &cnt))) die("store_ingest: %s", stoa_strerror(e));
  }
  double t = now_s() - t0;
  *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  *written = io_since(w0);
  if (rd < 0) die("%s: %s", path, stoa_strerror(rd));
  free(items);
  munmap(map, n);
  store_close(st);
  *fresh = cnt.fresh;
  return t;
}

static void part_import(ctx *c) {
  char h1[4096], h2[4096], h3[4096], bundle[4200], trust[4200], sdir[4200], line[512];
  uint64_t env_bytes, body_bytes;
  size_t entries, fresh;
  snprintf(h1, sizeof h1, "%s/import-src", c->dir);
  snprintf(h2, sizeof h2, "%s/import-dst", c->dir);
  snprintf(h3, sizeof h3, "%s/import-store-only", c->dir);
  snprintf(bundle, sizeof bundle, "%s/records.bundle", c->dir);
  snprintf(trust, sizeof trust, "%s/trust.bundle", c->dir);
  snprintf(sdir, sizeof sdir, "%s/charter.stoa", h1);

  printf("\n== 2. import of %zu records (stoa import, %d cores)\n", c->records, c->ncpu);
  stoa(c, h1, "--quiet", "init", "--network", "Bench source network", "--no-passphrase", NULL);
  double t0 = now_s();
  make_bundle(c, h1, bundle, c->records, &env_bytes, &body_bytes, &entries);
  double tg = now_s() - t0;
  printf("  bundle: %zu records (%zu entries, %zu edits), %.1f MB, avg record %.0f B (body %.0f B); "
         "generated and signed in %.1f s\n",
         c->records, entries, c->records - entries, (double)file_size(bundle) / 1e6,
         (double)env_bytes / (double)c->records, (double)body_bytes / (double)c->records, tg);
  stoa(c, h1, "--quiet", "export", "-o", trust, NULL);
  stoa(c, h2, "--quiet", "init", "--network", "Bench importer", "--charter", sdir, "--no-passphrase", NULL);
  stoa(c, h2, "import", trust, NULL);
  stoa(c, h3, "--quiet", "init", "--network", "Bench store only", "--charter", sdir, "--no-passphrase", NULL);
  stoa(c, h3, "import", trust, NULL);
  print_load("before the import");

  run_res rr = stoa(c, h2, "import", bundle, NULL);
  log_last_line(c, line, sizeof line);
  double rate = (double)c->records / rr.wall, icpu = rr.user + rr.sys;
  printf("  stoa import:         %10.0f records/s  (%.2f s wall; CPU %.2f s user + %.2f s sys = %.0f%% of one core)\n",
         rate, rr.wall, rr.user, rr.sys, 100 * icpu / rr.wall);
  printf("  its output:          %s\n", line);
  if (c->vset) { /* the one-core reference again, now that the import is over */
    double cpu, r = verify_rate(c->vset, 1, c->seconds, &cpu);
    printf("  one core, after:     %10.0f verifies/s\n", r);
    if (r > c->verify1) c->verify1 = r;
    if (cpu > c->verify_cpu) c->verify_cpu = cpu;
  }
  printf("  RATIO import / one-core verify: %.2fx   (target >= 1.6x; the fastest one-core run, %.0f/s)\n",
         rate / c->verify1, c->verify1);
  char st2[4200];
  double scpu;
  iost wr;
  snprintf(st2, sizeof st2, "%s/store", h3);
  double ts = ingest_only(st2, bundle, &fresh, &scpu, &wr);
  printf("  store_ingest alone:  %10.0f records/s  (%.2f s wall, %.2f s CPU, %zu new; decode + store in one "
         "thread, signatures not checked;\n                       LMDB wrote %.0f MB = %.1f KB per record; the device got %.0f MB)\n",
         (double)c->records / ts, ts, scpu, fresh, (double)wr.wchar / 1e6,
         (double)wr.wchar / 1024.0 / (double)c->records, (double)wr.dev / 1e6);
  /* CPU budget per record: what two (or N) cores can do at best with the
   * work the import does now, however well it is spread. */
  double v_us = 1e6 / c->verify_cpu, s_us = 1e6 * scpu / (double)c->records,
         i_us = 1e6 * icpu / (double)c->records;
  printf("  CPU per record:      verify %.1f us + decode/store %.1f us = %.1f us; the import spent %.1f us\n",
         v_us, s_us, v_us + s_us, i_us);
  printf("  => on %d free cores the import can reach at most %.2fx (perfect overlap of %.1f us CPU per "
         "record);\n     1.6x needs decode/store <= %.1f us per record on 2 cores\n",
         c->ncpu, (double)c->ncpu * v_us / (i_us > v_us + s_us ? i_us : v_us + s_us),
         i_us > v_us + s_us ? i_us : v_us + s_us, 2.0 * v_us / 1.6 - v_us);
  snprintf(st2, sizeof st2, "%s/store", h2);
  uint64_t du = du_bytes(st2);
  printf("  store on disk:       %.1f MB = %.0f B per record (avg record %.0f B, %.2fx)\n", (double)du / 1e6,
         (double)du / (double)c->records, (double)env_bytes / (double)c->records,
         (double)du / (double)env_bytes);
  fflush(stdout);
}

/* ---- 3. search --------------------------------------------------------------- */

typedef struct query {
  char text[160];
  int kind;
  const char *country, *theme;
  const char *cat;
  double ms;
  int hits;
} query;

static int count_hit(void *vctx, const store_entry *e) {
  (void)vctx;
  (void)e;
  return 0;
}

/* Builds the search store: n entries (plus about 5% edits) signed by the
 * founder network key, so that no trust records are needed. */
static void build_store(ctx *c, const char *home, uint64_t *env_bytes, size_t *nrec) {
  char p[8300];
  uint8_t pk[32], sk[64];
  charter ch;
  stream s;
  store *st;
  int e;
  read_charter(home, &ch);
  snprintf(p, sizeof p, "%s/keys/network.key", home);
  read_plain_key(p, pk, sk);
  stream_init(&s, c->seed * 104729 + 3, pk, sk, ch.id, c->entries, wall_ms());
  sodium_memzero(sk, sizeof sk);
  snprintf(p, sizeof p, "%s/store", home);
  if ((e = store_open(&st, p, NULL))) die("%s: %s", p, stoa_strerror(e));
  uint8_t *arena = xmalloc((size_t)BATCH * 4096);
  store_item *items = xcalloc(BATCH, sizeof *items);
  store_counts cnt = { 0 };
  double tgen = 0, tver = 0, ting = 0, cing = 0, t0 = now_s(), last = t0;
  iost w0 = io_now();
  size_t done = 0;
  while (s.nent < c->entries) {
    size_t k = 0, off = 0;
    double a = now_s();
    /* Records average about 1 KB: stop a batch early rather than overflow. */
    while (k < BATCH && s.nent < c->entries && off + REC_MAX <= (size_t)BATCH * 4096) {
      bool fresh;
      size_t len = stream_next(&s, arena + off, false, &fresh);
      store_item *it = &items[k++];
      memset(it, 0, sizeof *it);
      it->buf = arena + off;
      it->len = len;
      off += len;
      if ((e = rec_decode(it->buf, len, &it->r))) die("rec_decode: %s", stoa_strerror(e));
    }
    double b = now_s();
    for (size_t i = 0; i < k; i++) items[i].sig_ok = c->build_verify ? rec_verify(&items[i].r, ch.id) == 0 : true;
    double d = now_s(), cd = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if ((e = store_ingest(st, items, k, wall_ms(), &cnt))) die("store_ingest: %s", stoa_strerror(e));
    double f = now_s();
    cing += clock_s(CLOCK_PROCESS_CPUTIME_ID) - cd;
    tgen += b - a;
    tver += d - b;
    ting += f - d;
    done += k;
    if (f - last > 30) {
      fprintf(stderr, "  ... %zu entries, %zu records (%.0f s)\n", s.nent, done, f - t0);
      last = f;
    }
  }
  if (cnt.rejected || cnt.pending) die("build: %zu rejected, %zu pending", cnt.rejected, cnt.pending);
  store_close(st);
  free(arena);
  free(items);
  iost wr = io_since(w0);
  printf("  built %zu entries (%zu records, %zu edits) in %.0f s: generating and signing %.0f s, %s %.0f s,\n"
         "  store_ingest %.0f s wall (%.0f s CPU, %.1f us per record) = %.0f records/s;\n"
         "  LMDB wrote %.0f MB = %.1f KB per record; the device got %.0f MB\n",
         s.nent, done, done - s.nent, now_s() - t0, tgen, c->build_verify ? "verifying" : "verify skipped (records made here)",
         tver, ting, cing, 1e6 * cing / (double)done, (double)done / ting, (double)wr.wchar / 1e6,
         (double)wr.wchar / 1024.0 / (double)done, (double)wr.dev / 1e6);
  *env_bytes = s.env_bytes;
  *nrec = done;
  stream_free(&s);
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The p-quantile of sorted v (nearest rank). */
static double pct(const double *v, size_t n, double p) {
  if (!n) return 0;
  size_t i = (size_t)(p * (double)n + 0.999999);
  if (i < 1) i = 1;
  if (i > n) i = n;
  return v[i - 1];
}

/* Makes the query set: single words common and rare, prefixes, accented and
 * unaccented forms, two words, filters.  "word " (trailing space) is a whole
 * word; a last word without one is a prefix (store.h). */
static size_t make_queries(ctx *c, query *q, size_t max) {
  static const char *const accent[][2] = {
    { "société", "societe" }, { "münchen", "munchen" }, { "bogotá", "bogota" },
    { "straße", "strasse" }, { "réfugiés", "refugies" }, { "migración", "migracion" },
    { "Köln", "koln" }, { "Yaoundé", "yaounde" }, { "niñas", "ninas" }, { "éducation", "education" },
    { "Zürich", "zurich" }, { "São Paulo", "sao paulo" }, { "Łódź", "lodz" }, { "Ayşe", "ayse" },
    { "Größe", "grosse" }, { "MÉDECINS", "medecins" }, { "Nguyễn", "nguyen" },
    { "أربيل", "اربيل" }, { "Malmö", "malmo" }, { "GENÈVE", "geneve" },
  };
  static const char *const countries[] = { "FR", "DE", "PH", "CO", "SN", "MX", "MA", "CA", "ES", "JO",
                                           "IS", "NZ" };
  rng r;
  size_t n = 0, nt = n_themes();
  rng_seed(&r, c->seed * 31 + 5);
  for (size_t i = 0; n < max; i++) {
    query *x = &q[n];
    memset(x, 0, sizeof *x);
    const lang *l = &langs[rng_below(&r, L__N)];
    /* "common": among the 30 most frequent content words (past the
     * function words); "rare": from the last quarter of the list, or from
     * the tail of proper names. */
    const char *common = l->w[l->nfunc + rng_below(&r, 30)];
    const char *rare = l->w[l->n - 1 - rng_below(&r, l->n / 4)];
    char tn[64];
    tail_name(TAIL_N / 2 + rng_below(&r, TAIL_N / 2), tn, sizeof tn);
    switch (i % 10) {
    case 0: snprintf(x->text, sizeof x->text, "%s ", common); x->cat = "common word"; break;
    case 1:
      if (i % 20 == 1) snprintf(x->text, sizeof x->text, "%s ", rare);
      else snprintf(x->text, sizeof x->text, "%s ", tn);
      x->cat = "rare word";
      break;
    case 2: { /* a prefix of 3 to 5 characters (bytes, cut at a letter) */
      const char *w = i % 20 == 2 ? common : rare;
      size_t k = 3 + rng_below(&r, 3), b = 0, ch = 0;
      while (w[b] && ch < k) { b++; while (((uint8_t)w[b] & 0xc0) == 0x80) b++; ch++; }
      snprintf(x->text, sizeof x->text, "%.*s", (int)b, w);
      x->cat = "prefix";
      break;
    }
    case 3: case 4: {
      size_t k = (i / 10) % NELEM(accent);
      snprintf(x->text, sizeof x->text, "%s ", accent[k][i % 10 == 3 ? 0 : 1]);
      x->cat = i % 10 == 3 ? "accented" : "unaccented";
      break;
    }
    case 5: snprintf(x->text, sizeof x->text, "%s %s ", common, l->w[l->nfunc + rng_below(&r, 60)]);
      x->cat = "two words"; break;
    case 6: { /* a word and the first 3 characters of another */
      const char *w = l->w[l->nfunc + rng_below(&r, 80)];
      size_t b = 0, ch = 0;
      while (w[b] && ch < 3) { b++; while (((uint8_t)w[b] & 0xc0) == 0x80) b++; ch++; }
      snprintf(x->text, sizeof x->text, "%s %.*s", common, (int)b, w);
      x->cat = "word + prefix";
      break;
    }
    case 7:
      snprintf(x->text, sizeof x->text, "%s ", common);
      x->country = countries[rng_below(&r, NELEM(countries))];
      x->cat = "word + country";
      break;
    case 8:
      snprintf(x->text, sizeof x->text, "%s ", i % 20 == 8 ? common : rare);
      x->theme = schema_themes[rng_below(&r, nt)];
      x->kind = (int)(REC_ORG + rng_below(&r, 3));
      x->cat = "word + theme + kind";
      break;
    default:
      x->text[0] = 0;
      x->country = countries[rng_below(&r, NELEM(countries))];
      if (i % 20 == 9) x->theme = schema_themes[rng_below(&r, nt)];
      else x->kind = REC_ORG;
      x->cat = "filters only";
    }
    n++;
  }
  return n;
}

static void part_search(ctx *c) {
  char home[4200], sdir[4300];
  uint64_t env_bytes;
  size_t nrec;
  int e;
  snprintf(home, sizeof home, "%s/search", c->dir);
  snprintf(sdir, sizeof sdir, "%s/store", home);
  printf("\n== 3. search over %zu entries (store_search)\n", c->entries);
  print_load("now");
  stoa(c, home, "--quiet", "init", "--network", "Bench search", "--no-passphrase", NULL);
  build_store(c, home, &env_bytes, &nrec);
  fflush(stdout);

  query *q = xcalloc(c->queries, sizeof *q);
  size_t nq = make_queries(c, q, c->queries);
  store *st;
  if ((e = store_open(&st, sdir, NULL))) die("%s: %s", sdir, stoa_strerror(e));
  double *ms = xmalloc(nq * sizeof *ms);
  for (size_t i = 0; i < nq; i++) {
    store_query sq;
    store_rd *rd;
    memset(&sq, 0, sizeof sq);
    sq.text = q[i].text[0] ? q[i].text : NULL;
    sq.kind = q[i].kind;
    sq.country[0] = q[i].country;
    sq.theme[0] = q[i].theme;
    double t0 = now_s();
    if ((e = store_rd_begin(st, &rd))) die("store_rd_begin: %s", stoa_strerror(e));
    int h = store_search(rd, &sq, count_hit, NULL);
    store_rd_end(rd);
    q[i].ms = ms[i] = (now_s() - t0) * 1e3;
    if (h < 0) die("store_search '%s': %s", q[i].text, stoa_strerror(h));
    q[i].hits = h;
  }
  store_close(st);
  /* Per category, then all. */
  static const char *const cats[] = { "common word", "rare word", "prefix", "accented", "unaccented",
                                      "two words", "word + prefix", "word + country",
                                      "word + theme + kind", "filters only" };
  printf("  %-22s %5s %9s %9s %9s %9s\n", "queries (limit 50)", "n", "median ms", "p99 ms", "max ms",
         "avg hits");
  for (size_t k = 0; k < NELEM(cats); k++) {
    double v[1024];
    size_t m = 0;
    double hits = 0;
    for (size_t i = 0; i < nq && m < 1024; i++)
      if (!strcmp(q[i].cat, cats[k])) { v[m++] = q[i].ms; hits += q[i].hits; }
    if (!m) continue;
    qsort(v, m, sizeof *v, cmp_dbl);
    printf("  %-22s %5zu %9.3f %9.3f %9.3f %9.1f\n", cats[k], m, pct(v, m, 0.5), pct(v, m, 0.99), v[m - 1],
           hits / (double)m);
  }
  qsort(ms, nq, sizeof *ms, cmp_dbl);
  printf("  %-22s %5zu %9.3f %9.3f %9.3f\n", "ALL", nq, pct(ms, nq, 0.5), pct(ms, nq, 0.99), ms[nq - 1]);
  { /* the slowest, to say where the tail comes from */
    for (int j = 0; j < 3 && (size_t)j < nq; j++) {
      size_t wi = 0;
      for (size_t i = 1; i < nq; i++)
        if (q[i].ms > q[wi].ms) wi = i;
      query *x = &q[wi];
      printf("  slowest #%d: %.3f ms  \"%s\"%s%s%s%s%s%s (%d hits)\n", j + 1, x->ms, x->text,
             x->country ? " --country " : "", x->country ? x->country : "", x->theme ? " --theme " : "",
             x->theme ? x->theme : "", x->kind ? " --kind " : "", x->kind ? rec_kind_name(x->kind) : "",
             x->hits);
      x->ms = -1; /* done: next slowest */
    }
  }
  fflush(stdout);

  /* A whole command: process start, store open, search, titles, output. */
  const char *word = langs[L_EN].w[langs[L_EN].nfunc + 1];
  double w[5];
  for (int i = 0; i < 5; i++) {
    char *argv[] = { (char *)c->stoa, (char *)"--home", home, (char *)"search", (char *)word, NULL };
    run_res rr = run(argv, NULL);
    if (rr.status) die("stoa search failed (%d)", rr.status);
    w[i] = rr.wall * 1e3;
  }
  double first = w[0];
  qsort(w, 5, sizeof *w, cmp_dbl);
  printf("  `stoa search %s` (50 results printed): %.1f ms wall (median of 5; first run %.1f ms)\n", word, w[2],
         first);

  printf("\n== 4. store size\n");
  uint64_t du = du_bytes(sdir);
  printf("  %zu entries, %zu records: %.1f MB on disk = %.0f B per entry, %.0f B per record; "
         "avg record %.0f B (%.2fx)\n",
         c->entries, nrec, (double)du / 1e6, (double)du / (double)c->entries, (double)du / (double)nrec,
         (double)env_bytes / (double)nrec, (double)du / (double)env_bytes);
  free(q);
  free(ms);
}

/* ---- main -------------------------------------------------------------------- */

static size_t env_size(const char *name, size_t def) {
  const char *v = getenv(name);
  return v && *v ? (size_t)strtoull(v, NULL, 10) : def;
}

/*
 * bench_node zip BUNDLE: what compression of record batches gains on the
 * wire (issue 4).  The records of BUNDLE go (1) as RECORDS messages of up
 * to ZIP_RAW_MAX bytes through one zip.c stream per level, as stoad sends
 * a sync; (2) one record per message through one stream, as pushes go on a
 * long-lived connection; (3) one record per message compressed alone with
 * a dictionary trained on the first 2,000 records, the alternative a
 * dictionary would offer; (4) the same without a dictionary.
 */
static void zip_bench(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) die("%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long fl = ftell(f);
  rewind(f);
  uint8_t *file = xmalloc((size_t)fl + 1);
  if (fread(file, 1, (size_t)fl, f) != (size_t)fl) die("%s: short read", path);
  fclose(f);
  bundle_reader br;
  if (bundle_reader_init(&br, file, (size_t)fl)) die("%s: not a bundle", path);
  size_t n = 0, cap = 0;
  const uint8_t **recs = NULL;
  size_t *lens = NULL, raw_total = 0;
  const uint8_t *b;
  size_t bl;
  while (bundle_reader_next(&br, &b, &bl) == 1) {
    if (n == cap) {
      cap = cap ? cap * 2 : 4096;
      recs = realloc(recs, cap * sizeof *recs);
      lens = realloc(lens, cap * sizeof *lens);
      if (!recs || !lens) die("out of memory");
    }
    recs[n] = b;
    lens[n++] = bl;
    raw_total += bl;
  }
  printf("%zu records, %zu bytes (%.0f per record)\n", n, raw_total, (double)raw_total / (double)n);
  static uint8_t msg[WIRE_MSG_MAX], z[WIRE_MSG_MAX];
  int levels[] = { -5, -1, 1, 3, 9 };
  for (size_t li = 0; li < sizeof levels / sizeof *levels; li++) {
    zip_tx *zt;
    if (zip_tx_new(&zt, levels[li])) die("zip_tx_new");
    size_t in = 0, out = 0, i = 0;
    double t0 = now_s();
    while (i < n) {
      size_t tot = WIRE_RECORDS_OVERHEAD, k = 0, len, zl;
      while (i + k < n && k < WIRE_RECORDS_MAX && tot + lens[i + k] + WIRE_RECORD_OVERHEAD <= ZIP_RAW_MAX)
        tot += lens[i + k++] + WIRE_RECORD_OVERHEAD;
      if (wire_encode_records(recs + i, lens + i, (uint32_t)k, msg, sizeof msg, &len)) die("encode");
      if (zip_tx_msg(zt, msg, len, z, sizeof z - WIRE_ZIP_OVERHEAD, &zl)) die("zip");
      in += len;
      out += zl + WIRE_ZIP_OVERHEAD;
      i += k;
    }
    double t = now_s() - t0;
    printf("sync batches, zstd level %d: %.2f:1 (%zu -> %zu bytes), %.0f MB/s\n", levels[li],
           (double)in / (double)out, in, out, (double)in / t / 1e6);
    zip_tx_free(zt);
  }
  size_t m = n < 12000 ? n : 12000, train = m / 6, in = 0, out = 0, len, zl;
  zip_tx *zt;
  if (zip_tx_new(&zt, 3)) die("zip_tx_new");
  for (size_t i = train; i < m; i++) {
    if (wire_encode_records(recs + i, lens + i, 1, msg, sizeof msg, &len)) die("encode");
    if (zip_tx_msg(zt, msg, len, z, sizeof z - WIRE_ZIP_OVERHEAD, &zl)) die("zip");
    in += len;
    out += zl + WIRE_ZIP_OVERHEAD;
  }
  zip_tx_free(zt);
  printf("pushes, one record per message, one stream: %.2f:1\n", (double)in / (double)out);
  /* A dictionary trained on the first records, used on the others. */
  size_t tl = 0;
  for (size_t i = 0; i < train; i++) tl += lens[i];
  uint8_t *samples = xmalloc(tl + 1);
  size_t *ss = xmalloc(train * sizeof *ss + 1), off = 0;
  for (size_t i = 0; i < train; i++) { memcpy(samples + off, recs[i], lens[i]); off += lens[i]; ss[i] = lens[i]; }
  static uint8_t dict[112640];
  size_t dl = ZDICT_trainFromBuffer(dict, sizeof dict, samples, ss, (unsigned)train);
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  size_t dict_out = 0, plain_out = 0;
  if (!ZDICT_isError(dl)) {
    ZSTD_CDict *cd = ZSTD_createCDict(dict, dl, 3);
    for (size_t i = train; i < m; i++) {
      size_t r = ZSTD_compress_usingCDict(cc, z, sizeof z, recs[i], lens[i], cd);
      size_t r2 = ZSTD_compressCCtx(cc, msg, sizeof msg, recs[i], lens[i], 3);
      if (ZSTD_isError(r) || ZSTD_isError(r2)) die("zstd");
      dict_out += r + WIRE_ZIP_OVERHEAD;
      plain_out += r2 + WIRE_ZIP_OVERHEAD;
    }
    ZSTD_freeCDict(cd);
    size_t rin = 0;
    for (size_t i = train; i < m; i++) rin += lens[i];
    printf("one record alone, trained %zu-byte dictionary: %.2f:1; alone without one: %.2f:1\n", dl,
           (double)rin / (double)dict_out, (double)rin / (double)plain_out);
  } else {
    printf("dictionary training failed: %s\n", ZDICT_getErrorName(dl));
  }
  ZSTD_freeCCtx(cc);
  free(samples);
  free(ss);
  free(recs);
  free(lens);
  free(file);
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_node all --stoa PATH --dir DIR [--records N] [--entries N] [--queries N]\n"
          "                      [--seconds S] [--seed N] [--skip-import] [--skip-search] [--build-verify]\n"
          "       bench_node verify [--seconds S]\n"
          "       bench_node bundle HOME OUT N   (N records of HOME's editor into a bundle)\n"
          "       bench_node ingest STORE_DIR BUNDLE   (store_ingest alone, signatures not checked)\n"
          "       bench_node zip BUNDLE   (compression of record batches and pushes)\n"
          "Environment: BENCH_RECORDS, BENCH_ENTRIES, BENCH_QUERIES, BENCH_VERIFY_SECONDS, BENCH_SEED,\n"
          "BENCH_BUILD_VERIFY=1.\n");
  exit(2);
}

int main(int argc, char **argv) {
  ctx c;
  memset(&c, 0, sizeof c);
  c.records = env_size("BENCH_RECORDS", 200000);
  c.entries = env_size("BENCH_ENTRIES", 1000000);
  c.queries = env_size("BENCH_QUERIES", 200);
  c.seed = env_size("BENCH_SEED", 1);
  c.build_verify = env_size("BENCH_BUILD_VERIFY", 0) != 0;
  c.seconds = getenv("BENCH_VERIFY_SECONDS") ? atof(getenv("BENCH_VERIFY_SECONDS")) : 2.0;
  if (argc < 2) usage();
  const char *mode = argv[1];
  if (!strcmp(mode, "ingest")) { /* for profiling the store's share */
    size_t fresh;
    double cpu;
    iost wr;
    if (argc != 4) usage();
    if (sodium_init() < 0) die("sodium_init failed");
    double t = ingest_only(argv[2], argv[3], &fresh, &cpu, &wr);
    printf("store_ingest: %zu new in %.2f s (%.2f s CPU; %.0f MB written by LMDB, %.0f MB by the device) = %.0f new/s\n",
           fresh, t, cpu, (double)wr.wchar / 1e6, (double)wr.dev / 1e6, (double)fresh / t);
    return 0;
  }
  if (!strcmp(mode, "zip")) {
    if (argc != 3) usage();
    zip_bench(argv[2]);
    return 0;
  }
  if (!strcmp(mode, "bundle")) { /* bench_node bundle HOME OUT N: for scripts/bench-sync */
    uint64_t env = 0, body = 0;
    size_t entries = 0;
    if (argc != 5) usage();
    if (sodium_init() < 0) die("sodium_init failed");
    vocab_init();
    make_bundle(&c, argv[2], argv[3], strtoull(argv[4], NULL, 10), &env, &body, &entries);
    printf("%s: %s records, %llu envelope bytes, %llu body bytes, %zu entries\n", argv[3], argv[4],
           (unsigned long long)env, (unsigned long long)body, entries);
    return 0;
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--stoa") && v) c.stoa = argv[++i];
    else if (!strcmp(a, "--dir") && v) c.dir = argv[++i];
    else if (!strcmp(a, "--records") && v) c.records = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--entries") && v) c.entries = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--queries") && v) c.queries = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--seed") && v) c.seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--seconds") && v) c.seconds = atof(argv[++i]);
    else if (!strcmp(a, "--skip-import")) c.skip_import = true;
    else if (!strcmp(a, "--skip-search")) c.skip_search = true;
    else if (!strcmp(a, "--build-verify")) c.build_verify = true;
    else usage();
  }
  if (sodium_init() < 0) die("sodium_init failed");
  if (c.seconds <= 0) c.seconds = 2.0;
  if (c.queries < 1) c.queries = 1;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  c.ncpu = ncpu < 1 ? 1 : ncpu > 64 ? 64 : (int)ncpu;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(mode, "verify")) {
    part_verify(&c);
    free(c.vset);
    return 0;
  }
  if (strcmp(mode, "all") || !c.stoa || !c.dir) usage();
  if (c.records < 1000) c.records = 1000;
  if (c.entries < 1000) c.entries = 1000;
  if (access(c.stoa, X_OK)) die("%s: not an executable", c.stoa);
  if (mkdir(c.dir, 0700) && errno != EEXIST) die("%s: %s", c.dir, strerror(errno));
  snprintf(c.log, sizeof c.log, "%s/bench.log", c.dir);
  vocab_init();
  printf("Stoa single-node benchmark: %d cores, records=%zu entries=%zu queries=%zu seed=%" PRIu64
         " (vocabulary %zu words + %d proper names)\n",
         c.ncpu, c.records, c.entries, c.queries, c.seed, vocab_size(), TAIL_N);
  part_verify(&c);
  if (!c.skip_import) part_import(&c);
  if (!c.skip_search) part_search(&c);
  printf("\ndone (commands run: %s)\n", c.log);
  free(c.vset);
  return 0;
}
