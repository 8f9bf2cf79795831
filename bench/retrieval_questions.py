"""Question lists for the retrieval benchmarks (not the evaluation set: written independently)."""

# Clearly outside police law: must get "no basis".
OFF_TOPIC = [
    "今天天气怎么样",
    "how do I bake bread",
    "明天会下雨吗",
    "红烧肉怎么做",
    "推荐一部好看的电影",
    "周末去哪里玩",
    "怎么学好英语",
    "手机电池不耐用怎么办",
    "what is the capital of France",
    "how to fix a flat bicycle tyre",
    "股票明天会涨吗",
    "哪家奶茶好喝",
    "世界杯冠军是谁",
    "如何减肥最快",
    "猫为什么喜欢睡觉",
    "tell me a joke",
]

# Real questions officers ask (beyond the dev set); must be answered.
REAL = [
    "取保候审最长多久？",
    "被人推搡算不算袭警？",
    "拘留后多长时间要通知家属？",
    "醉酒驾驶机动车怎么处理？",
    "继续盘问最长可以多久？",
    "什么情况下可以开枪？",
    "未成年人违反治安管理能拘留吗？",
    "律师会见犯罪嫌疑人要多久安排？",
    "辱骂民警怎么处罚？",
    "被人诬告陷害怎么办？",
    "盗窃数额较大的标准是多少？",
    "家庭暴力告诫书怎么出具？",
    "传唤嫌疑人能超过十二小时吗？",
    "询问查证最长多长时间？",
    "治安案件办案期限是多久？",
    "逮捕后的侦查羁押期限是多久？",
    "指定居所监视居住可以在看守所执行吗？",
    "无证驾驶机动车怎么处罚？",
    "当场收缴罚款需要什么条件？",
    "行政拘留可以暂缓执行吗？",
]

# Real questions in English (officers may ask in English); must be answered.
REAL_EN = [
    "How long can bail pending trial last at most?",
    "how long can residential surveillance last",
    "when may police use a firearm",
    "Is pushing a police officer the crime of assaulting police?",
    "drunk driving penalty",
    "within how many hours must the family be notified after detention",
    "how long can continued questioning last",
    "can a juvenile under 16 be given administrative detention",
]
